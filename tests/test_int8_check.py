"""The int8 measurement (dfcore.evaluation.int8_check): which items, the quantised graph, the rule, the bad path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dfcore import load_detector
from dfcore.evaluation.int8_check import (DFDC_FIT, Int8Score, calibration_halves, compare, int8_features, main,
                                          normalised, passes, quantize, score_both, judged_items)
from dfcore.models.onnx_runtime import OnnxBackbone, cpu_session
from dfcore.training.sources.items import LabelledItem


def _item(name: str, label: int, source: str) -> LabelledItem:
    return LabelledItem(Path(f"/nowhere/{name}"), label, (name,), source)


SPLITS = {
    "ffpp_train": [_item("ff_train", 1, "ffpp/FaceSwap")],
    "ffpp_calib": [_item(f"ff_c{i}", i % 2, "ffpp/original") for i in range(6)],
    "ffpp_test": [_item("ff_test", 0, "ffpp/original")],
    "dfdc_calib": [_item(f"dd_c{i}.jpg", i % 2, "dfdc") for i in range(DFDC_FIT + 20)],
    "dfdc_test": [_item(f"dd_t{i}.jpg", i % 2, "dfdc") for i in range(5)],
    "th_calib": [_item(f"th_c{i}", 0, "talking_heads/MEAD") for i in range(3)],
    "th_test": [_item("th_test", 1, "talking_heads/AniTalker")],
}


def test_calibration_halves_are_disjoint_seeded_and_never_touch_test_or_train() -> None:
    fit, choose = calibration_halves(SPLITS)
    fit_names = {it.path.name for _, it in fit}
    choose_names = {it.path.name for _, it in choose}
    assert not fit_names & choose_names
    assert not any("test" in n or "train" in n for n in fit_names | choose_names)
    assert sum(d == "dfdc" for d, _ in fit) == DFDC_FIT and sum(d == "dfdc" for d, _ in choose) == 20
    assert sum(d == "ffpp" for d, _ in fit) == 3 and sum(d == "ffpp" for d, _ in choose) == 3
    assert [it.path for _, it in calibration_halves(SPLITS)[0]] == [it.path for _, it in fit]


def test_judged_items_are_the_test_split_only() -> None:
    names = [(d, it.path.name) for d, it in judged_items(SPLITS)]
    assert names == [("ffpp", "ff_test"), ("talking_heads", "th_test")] + [("dfdc", f"dd_t{i}.jpg") for i in range(5)]


@pytest.fixture(scope="module")
def detector(checkpoint: Path):
    return load_detector(checkpoint, device="cpu", runtime="onnx")


def test_the_int8_graph_is_quantised_and_scores_like_the_float_one(detector, random_crops: np.ndarray) -> None:
    graph = OnnxBackbone(detector.model.backbone, detector.preprocess.input_size, "").export()
    x = normalised(random_crops, detector)
    q = quantize(graph, np.concatenate([x] * 3), "Percentile")  # 18 crops: one full batch, two left over
    assert b"QuantizeLinear" in q and b"QuantizeLinear" not in graph
    session = cpu_session(q, 1)
    feats = int8_features(session, x)
    want = detector.features(random_crops)
    assert feats.shape == want.shape
    # int8 is an approximation: close to the float features, never equal to them.
    assert not torch.equal(feats, want)
    assert np.corrcoef(feats.flatten().numpy(), want.flatten().numpy())[0, 1] > 0.95
    s = score_both("clip", 1, "ffpp", random_crops, detector, session)
    assert s.logit == pytest.approx(detector.score(random_crops).clip_logit, abs=1e-4)
    assert s.int8_logit != s.logit and 0.0 <= s.int8_probability <= 1.0


def _score(label: int, domain: str, logit: float, int8: float) -> Int8Score:
    return Int8Score(f"{domain}{label}{logit}", label, domain, logit, int8, logit / 10, int8 / 10)


def test_compare_and_the_rule() -> None:
    same = [_score(0, "ffpp", 0.0, 0.1), _score(0, "ffpp", 1.0, 1.1), _score(1, "ffpp", 2.0, 2.1),
            _score(1, "ffpp", 3.0, 3.1), _score(0, "dfdc", 0.0, 0.0), _score(1, "dfdc", 1.0, 1.0)]
    out = compare(same)
    assert set(out) == {"ffpp", "dfdc", "all"}
    assert out["ffpp"]["change"] == 0.0 and out["ffpp"]["probability_moved_mean"] == pytest.approx(0.01)
    assert passes(out)
    # One fake falls below a real under int8: FF++'s AUC drops by a quarter, and the rule fails.
    swapped = same[:2] + [_score(1, "ffpp", 2.0, 0.5)] + same[3:]
    out = compare(swapped)
    assert out["ffpp"]["auc_int8"] == pytest.approx(0.75) and out["ffpp"]["change"] == pytest.approx(-0.25)
    assert not passes(out)


def test_missing_data_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nothing" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
