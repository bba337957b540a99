"""The committed weights: they load through the checksum and give the stored outputs.

The stored outputs (tests/golden/committed_weights.json) are written by this
test itself when run with DFCORE_UPDATE_GOLDEN=1, right after new weights are
committed; any later change to the weights, the preprocessing, the face
pipeline or the frame sampling that moves a score shows up here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import dfcore
from dfcore.checkpoint import MANIFEST_NAME, read_manifest
from dfcore.detector import DEFAULT_WEIGHTS_NAME, WEIGHTS_DIR

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "committed_weights.json"
SAMPLES = ["synthetic_real_astronaut.mp4", "synthetic_fake_selfblend_astronaut.mp4", "synthetic_real_astronaut.jpg"]
N_FRAMES = 20
TOL = 1e-4  # float32 CNN on CPU: bitwise equality across BLAS builds is not promised


@pytest.fixture(scope="module")
def committed() -> dfcore.Detector:
    # The committed file by its path (DFCORE_WEIGHTS may point other tests elsewhere).
    return dfcore.load_detector(WEIGHTS_DIR / DEFAULT_WEIGHTS_NAME, device="cpu")


def _outputs(det: dfcore.Detector) -> dict:
    out = {"sha256": det.sha256, "threshold": det.threshold, "clips": {}}
    for name in SAMPLES:
        r = dfcore.analyze_video(ROOT / "sample_videos" / name, N_FRAMES, detector=det)
        out["clips"][name] = {
            "verdict": r.verdict,
            "fake_probability": r.fake_probability,
            "frame_probabilities": [f.fake_probability for f in r.frames],
        }
    return out


def test_committed_weights_are_listed_in_the_manifest() -> None:
    weights = WEIGHTS_DIR / DEFAULT_WEIGHTS_NAME
    assert weights.is_file(), "the default weights must be committed"
    assert weights.stat().st_size <= 30 * 1024 * 1024
    assert DEFAULT_WEIGHTS_NAME in read_manifest(WEIGHTS_DIR / MANIFEST_NAME)


def test_model_card_describes_the_committed_weights(committed: dfcore.Detector) -> None:
    card = json.loads((WEIGHTS_DIR / "model_card.json").read_text())
    assert card["sha256"] == committed.sha256
    assert card["decision"]["threshold"] == pytest.approx(committed.threshold)
    assert set(card["metrics"]["ffpp_c23_val"]["by_frames"]) == {"10", "20", "40", "60", "80", "100"}
    assert "research" in card["data_terms"]


def test_committed_weights_give_the_stored_outputs(committed: dfcore.Detector) -> None:
    got = _outputs(committed)
    if os.environ.get("DFCORE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got["sha256"] == want["sha256"], "weights changed: rerun with DFCORE_UPDATE_GOLDEN=1 and commit"
    assert got["threshold"] == pytest.approx(want["threshold"])
    for name, w in want["clips"].items():
        g = got["clips"][name]
        assert g["verdict"] == w["verdict"], name
        assert g["fake_probability"] == pytest.approx(w["fake_probability"], abs=TOL), name
        assert g["frame_probabilities"] == pytest.approx(w["frame_probabilities"], abs=TOL), name
