"""dfcore.training.calibrate: calibrating an uncalibrated checkpoint and setting its threshold, through the full pipeline.

The checkpoint is a tiny UNTRAINED model and the "calibration split" the
generated sample clips (a real clip and still, two manipulated clips): the test
is about the rule and the rewritten file, not about what the model detects.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dfcore.analyze import analyze_video
from dfcore.training.calibrate import MAX_REAL_CALLED_FAKE, calibrate_checkpoint, logits_from
from dfcore.models.checkpoint import MANIFEST_NAME, load_checkpoint, read_manifest, save_checkpoint, sha256_file
from dfcore.training.sources.items import LabelledItem
from dfcore.models.detector import Detector
from dfcore.evaluation.metrics import sigmoid
from dfcore.models.model import create_model
from dfcore.vision.preprocessing import PreprocessConfig
from dfcore.synth.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, WARP_CLIP

FRAME_COUNTS = (3, 6)  # short, to keep the analyses quick; the real calibration uses the slider's counts
TINY = {"stem_width": 8, "stage_planes": (4, 8, 8, 8), "stage_blocks": (1, 1, 1, 1), "cardinality": 4,
        "lstm_hidden": 8}


def _items(sample_dir: Path) -> list[LabelledItem]:
    return [LabelledItem(sample_dir / REAL_CLIP, 0, ("astronaut",), "test"),
            LabelledItem(sample_dir / REAL_STILL, 0, ("astronaut",), "test"),
            LabelledItem(sample_dir / SELFBLEND_CLIP, 1, ("astronaut",), "test"),
            LabelledItem(sample_dir / WARP_CLIP, 1, ("astronaut",), "test")]


def _uncalibrated(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    path = folder / "model.pt"
    save_checkpoint(path, create_model("resnext_compact_lstm", **TINY).eval(), "resnext_compact_lstm",
                    PreprocessConfig(), info={"run_config": {"name": "model"}})
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> tuple[Path, dict, str]:
    """(the calibrated checkpoint, the record calibrate_checkpoint returned, the uncalibrated file's sha256)."""
    path = _uncalibrated(tmp_path_factory.mktemp("calibrate"))
    before = sha256_file(path)
    record = calibrate_checkpoint(path, _items(sample_dir), FRAME_COUNTS)
    return path, record, before


def test_checkpoint_is_rewritten_with_the_calibration(calibrated: tuple[Path, dict, str]) -> None:
    path, record, before = calibrated
    ck = load_checkpoint(path)  # the manifest was updated with the new file's hash
    assert ck.sha256 != before and read_manifest(path.parent / MANIFEST_NAME) == {path.name: ck.sha256}
    assert ck.threshold == record["threshold"]
    assert (ck.temperature, ck.bias, ck.frame_temperature) == (
        record["temperature"], record["bias"], record["frame_temperature"])
    assert ck.temperature > 0 and ck.frame_temperature > 0
    assert ck.info["calibration"] == record
    assert ck.info["run_config"] == {"name": "model"}  # the training info is kept
    assert "at most 5%" in ck.info["threshold_rule"]
    assert record["split_clips"] == {"real": 2, "fake": 2}
    assert 0.0 <= record["calibration_fakes_caught"] <= 1.0


def test_threshold_calls_at_most_the_allowed_share_of_reals(calibrated: tuple[Path, dict, str],
                                                            sample_dir: Path) -> None:
    path, record, _ = calibrated
    # Analysed again with the calibrated checkpoint, exactly as a user's clip would be: every real
    # scores below the threshold (2 reals x 2 frame counts: 5% of 4 allows none), as the record says.
    det = Detector(load_checkpoint(path), device="cpu")
    real = [analyze_video(it.path, k, detector=det).fake_probability
            for it in _items(sample_dir) if it.label == 0 for k in FRAME_COUNTS]
    assert len(real) == 4 and all(p is not None for p in real)
    assert np.mean(np.array(real) >= det.threshold) <= MAX_REAL_CALLED_FAKE
    assert record["calibration_real_called_fake"] == 0.0
    # The threshold is as low as the rule allows: just above the top real score.
    assert det.threshold == pytest.approx(max(real), abs=1e-12)


def test_an_already_calibrated_checkpoint_is_refused(calibrated: tuple[Path, dict, str], sample_dir: Path,
                                                     tmp_path: Path) -> None:
    path, _, _ = calibrated
    copy = tmp_path / "model.pt"
    shutil.copy(path, copy)
    shutil.copy(path.parent / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    digest = sha256_file(copy)
    with pytest.raises(ValueError, match="already calibrated"):
        calibrate_checkpoint(copy, _items(sample_dir), FRAME_COUNTS)
    assert sha256_file(copy) == digest  # left as it was


def test_a_split_with_one_class_is_refused(tmp_path: Path, sample_dir: Path) -> None:
    path = _uncalibrated(tmp_path)
    digest = sha256_file(path)
    reals = [it for it in _items(sample_dir) if it.label == 0]
    with pytest.raises(ValueError, match="needs real and fake clips"):
        calibrate_checkpoint(path, reals, FRAME_COUNTS[:1])
    assert sha256_file(path) == digest  # left uncalibrated, not fitted to one class


def test_logits_from_recovers_float32_logits_exactly() -> None:
    # The detector's logits are float32; the calibration must see exactly them, or a threshold set
    # "just above the top real" can land an ulp below that real's score when it is analysed again.
    z = np.random.default_rng(0).uniform(-20, 20, 20000).astype(np.float32).astype(float)
    np.testing.assert_array_equal(logits_from(sigmoid(z)), z)
    t, b = 1.7, -0.3
    p = sigmoid(logits_from(sigmoid(z)) / t + b)
    assert (sigmoid(z / t + b) < np.nextafter(p, np.inf)).all()
    # Saturated probabilities stay finite.
    assert np.isfinite(logits_from([0.0, 1.0])).all()
    assert logits_from([0.0])[0] < -20 and logits_from([1.0])[0] > 20
