"""The committed weights: every installed model loads through the checksum and gives its stored outputs.

The stored outputs (tests/golden/NAME.json, one per model in weights/) are
written by this test itself when run with DFCORE_UPDATE_GOLDEN=1, right after
new weights are committed; any later change to the weights, the preprocessing,
the face pipeline or the frame sampling that moves a score shows up here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import dfcore
from dfcore.models.checkpoint import MANIFEST_NAME, read_manifest
from dfcore.models.model_registry import WEIGHTS_DIR, ModelEntry, list_models, read_card, withdrawn_models
from dfcore.models.onnx_runtime import RUNTIMES

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
SAMPLES = ["synthetic_real_astronaut.mp4", "synthetic_fake_selfblend_astronaut.mp4", "synthetic_real_astronaut.jpg"]
N_FRAMES = 20
TOL = 1e-4  # float32 CNN on CPU: bitwise equality across BLAS builds is not promised
# The committed models, read from the folder itself (DFCORE_WEIGHTS may point other tests elsewhere); a withdrawn
# one is still committed and must still load and score as stored.
MODELS = list_models(WEIGHTS_DIR) + withdrawn_models(WEIGHTS_DIR)


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


def test_models_are_committed() -> None:
    assert MODELS, "weights/ must hold at least one model"
    assert sum(m.default for m in MODELS) == 1 and MODELS[0].default


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m.name)
def test_committed_weights_are_listed_in_the_manifest(entry: ModelEntry) -> None:
    assert entry.path.is_file(), f"{entry.name}: the weights must be committed"
    assert entry.path.stat().st_size <= 30 * 1024 * 1024
    assert entry.path.name in read_manifest(WEIGHTS_DIR / MANIFEST_NAME)


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m.name)
def test_model_card_describes_the_committed_weights(entry: ModelEntry) -> None:
    det = dfcore.load_detector(entry.path, device="cpu")
    card = read_card(entry)
    assert card is not None, f"{entry.name}: no card; run `make evaluate`"
    assert card["sha256"] == det.sha256
    assert card["decision"]["threshold"] == pytest.approx(det.threshold)
    assert set(card["metrics"]["ffpp_c23_val"]["by_frames"]) == {"10", "20", "40", "60", "80", "100"}
    assert "research" in card["data_terms"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m.name)
def test_committed_weights_give_the_stored_outputs(entry: ModelEntry, runtime: str) -> None:
    """Both runtimes of the per-frame CNN give the one stored set of outputs (PyTorch's), within TOL."""
    det = dfcore.load_detector(entry.path, device="cpu", runtime=runtime)
    assert det.runtime == runtime
    got = _outputs(det)
    golden = GOLDEN_DIR / f"{entry.name}.json"
    if os.environ.get("DFCORE_UPDATE_GOLDEN") == "1" and runtime == "torch":  # PyTorch is the reference
        GOLDEN_DIR.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=2) + "\n")
    assert golden.is_file(), f"no stored outputs for {entry.name}: rerun with DFCORE_UPDATE_GOLDEN=1 and commit"
    want = json.loads(golden.read_text())
    assert got["sha256"] == want["sha256"], "weights changed: rerun with DFCORE_UPDATE_GOLDEN=1 and commit"
    assert got["threshold"] == pytest.approx(want["threshold"])
    for name, w in want["clips"].items():
        g = got["clips"][name]
        assert g["verdict"] == w["verdict"], name
        assert g["fake_probability"] == pytest.approx(w["fake_probability"], abs=TOL), name
        assert g["frame_probabilities"] == pytest.approx(w["frame_probabilities"], abs=TOL), name
