"""Test-time flip measurement (dfcore.evaluation.flip_tta): which items, the mirror, the comparison, the bad path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfcore.evaluation.flip_tta import FlipScore, calibration_items, compare, main, mirrored, score_with_flip
from dfcore.training.sources.items import LabelledItem


def _item(name: str, label: int, source: str) -> LabelledItem:
    return LabelledItem(Path(f"/nowhere/{name}"), label, (name,), source)


SPLITS = {
    "ffpp_train": [_item("ff_train", 1, "ffpp/FaceSwap")],
    "ffpp_calib": [_item("ff_r", 0, "ffpp/original"), _item("ff_f", 1, "ffpp/Deepfakes")],
    "ffpp_test": [_item("ff_test", 0, "ffpp/original")],
    "dfdc_calib": [_item(f"dd{i}.jpg", i % 2, "dfdc") for i in range(10)],
    "th_calib": [_item("mead", 0, "talking_heads/MEAD")],
    "th_test": [_item("th_test", 1, "talking_heads/AniTalker")],
}


def test_only_calibration_items_are_measured_and_the_dfdc_sample_is_seeded() -> None:
    items = calibration_items(SPLITS, dfdc_sample=4)
    names = [(d, it.path.name) for d, it in items]
    assert names[:3] == [("ffpp", "ff_r"), ("ffpp", "ff_f"), ("talking_heads", "mead")]
    dfdc = [n for d, n in names if d == "dfdc"]
    assert len(dfdc) == 4 and len(set(dfdc)) == 4
    again = [it.path.name for d, it in calibration_items(SPLITS, dfdc_sample=4) if d == "dfdc"]
    assert dfdc == again
    assert not any("test" in n or "train" in n for _, n in names)  # never the test or train splits


def test_mirrored_flips_left_to_right_only() -> None:
    crops = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    out = mirrored(crops)
    assert out.flags["C_CONTIGUOUS"]
    assert np.array_equal(out[:, :, 0], crops[:, :, -1]) and np.array_equal(out[:, 0], crops[:, 0, ::-1])
    assert np.array_equal(mirrored(out), crops)


def _score(label: int, domain: str, logit: float, flipped: float) -> FlipScore:
    return FlipScore(f"{domain}{label}{logit}", label, domain, logit, flipped, analysis_s=1.0, flip_s=0.25)


def test_compare_reports_the_paired_change_per_domain_and_overall() -> None:
    # FF++: the plain logits rank one fake below a real; the mirrored pass pulls it up.
    scores = [_score(0, "ffpp", 0.0, 0.0), _score(0, "ffpp", 1.0, 1.0),
              _score(1, "ffpp", 2.0, 2.0), _score(1, "ffpp", 0.5, 3.0),
              _score(0, "dfdc", 0.0, 0.0), _score(1, "dfdc", 1.0, 1.0)]
    out = compare(scores)
    ff = out["ffpp"]
    assert ff["auc"] == pytest.approx(0.75) and ff["auc_flip"] == pytest.approx(1.0)
    assert ff["change"] == pytest.approx(0.25) and ff["change_ci"][0] <= 0.25 <= ff["change_ci"][1]
    assert ff["n_reals"] == 2 and ff["n_fakes"] == 2 and ff["flip_s"] == pytest.approx(0.25)
    assert out["dfdc"]["change"] == pytest.approx(0.0)
    assert out["all"]["n_reals"] == 3 and out["all"]["n_fakes"] == 3
    assert "talking_heads" not in out  # no items: no row, rather than an AUC of nothing


def test_score_with_flip_on_a_face_clip_and_a_faceless_one(detector, face_video: Path, blank_video: Path) -> None:
    s = score_with_flip(face_video, 0, "ffpp", detector, frames=4)
    assert s is not None and np.isfinite([s.logit, s.flipped_logit]).all()
    assert s.tta_logit == pytest.approx((s.logit + s.flipped_logit) / 2)
    assert s.analysis_s > 0 and s.flip_s > 0
    assert score_with_flip(blank_video, 0, "ffpp", detector, frames=4) is None


def test_missing_data_is_an_error_line_and_exit_2(checkpoint: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "flip.json"
    assert main(["--weights", str(checkpoint), "--data", str(tmp_path / "no_data"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()
