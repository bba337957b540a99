"""The frequency-domain probe (dfcore.training.probes.spectrum) and the probe it uses (probes.linear): the
spectrum, the folds, the probe, the leave-out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dfcore.training.probes.linear import (ClipFeatures, balanced_weights, choose_l2, fit_probe, identity_folds,
                                          leave_kind_out)
from dfcore.training.probes.spectrum import FEATURE_SETS, SPECTRUM_BINS, main, residual_spectrum


def test_the_residual_spectrum_sees_missing_sensor_noise() -> None:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (96, 96, 3)).astype(np.uint8), (0, 0), 4)
    noisy = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    # An up-sampled copy: what a generator rendering at a lower resolution leaves, no fine noise.
    upsampled = cv2.resize(cv2.resize(noisy, (48, 48), interpolation=cv2.INTER_AREA), (96, 96),
                           interpolation=cv2.INTER_LINEAR)
    s_noisy, s_up = residual_spectrum(noisy), residual_spectrum(upsampled)
    assert s_noisy.shape == (SPECTRUM_BINS,) and s_noisy.dtype == np.float32
    assert abs(float(s_noisy.mean())) < 1e-4  # the level is removed: only the shape is compared
    top = slice(SPECTRUM_BINS * 3 // 4, None)
    assert s_noisy[top].mean() - s_up[top].mean() > 1.0  # up-sampling empties the top rings
    brighter = np.clip(noisy.astype(int) + 20, 0, 255).astype(np.uint8)
    assert np.allclose(residual_spectrum(brighter), s_noisy, atol=0.2)


def test_clips_sharing_an_identity_share_a_fold() -> None:
    ids = [("a",), ("a", "b"), ("b",), ("c",), ("d",), ("e",)]
    folds = identity_folds(ids, n_folds=3)
    assert folds[0] == folds[1] == folds[2]  # a swap of a onto b links all three
    assert set(folds) <= {0, 1, 2}


def test_the_probe_learns_a_separable_direction_with_balanced_classes() -> None:
    rng = np.random.default_rng(1)
    y = np.array([0] * 30 + [1] * 6)
    x = rng.normal(size=(36, 5))
    x[:, 0] += 3 * y
    assert balanced_weights(y)[y == 1].sum() == pytest.approx(0.5)
    w, b = fit_probe(x, y, 1e-3)
    scores = x @ w + b
    assert scores[y == 1].min() > np.median(scores[y == 0]) and np.argmax(np.abs(w)) == 0
    assert choose_l2(x, y, [(str(i),) for i in range(36)], n_folds=4) in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _features() -> ClipFeatures:
    rng = np.random.default_rng(2)
    rows = ([("train", 0, "talking_heads/MEAD")] * 12 + [("train", 1, "talking_heads/DeepFaceLive")] * 8 +
            [("train", 1, "talking_heads/AniTalker")] * 4 + [("calib", 0, "talking_heads/MEAD")] * 6 +
            [("test", 0, "talking_heads/VoxCeleb2")] * 6 + [("test", 1, "talking_heads/AniTalker")] * 3)
    split, label, source = (np.array(c) for c in zip(*rows))
    rgb = rng.normal(size=(len(rows), 8)).astype(np.float32)
    spectrum = rng.normal(size=(len(rows), 4)).astype(np.float32)
    spectrum[:, 0] += 3 * label  # every kind of fake shows in the spectrum, none in the rgb block
    return ClipFeatures({"rgb": rgb, "spectrum": spectrum}, label, source, split,
                        [(f"id{i}",) for i in range(len(rows))])


def test_leave_kind_out_never_trains_on_the_kind_nor_scores_train_reals() -> None:
    r = leave_kind_out(_features(), "talking_heads/AniTalker", FEATURE_SETS)
    assert r["n_fakes"] == 7  # all AniTalker clips, train ones too: the probe never saw any of them
    assert r["n_reals"] == 12  # calibration and test reals only
    assert r["spectrum"]["auc"] > 0.9 and r["spectrum"]["auc"] > r["rgb"]["auc"]
    change, low, high = r["both"]["change_vs_rgb"]
    assert low <= change <= high
    assert r["rgb"]["auc_ci"][0] <= r["rgb"]["auc"] <= r["rgb"]["auc_ci"][1]


def test_missing_data_is_an_error_line_and_exit_2(tmp_path: Path, checkpoint: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "probe.json"
    assert main(["--data", str(tmp_path / "nowhere"), "--weights", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()
