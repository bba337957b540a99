"""The temporal probe (dfcore.training.probes.temporal): neighbouring frames, their features, the rule."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dfcore.training.probes.temporal import (TRIPLETS, Triplet, as_clip_features, clip_triplets, feature_names,
                                             judge, main, region_boxes, triplet_centres, triplet_features)
from dfcore.vision.preprocessing import PreprocessConfig

SIDE = 96
# A face 96 px wide: eyes 32 px apart at y=38, the mouth at y=68 (MediaPipe's keypoint order).
KEYPOINTS = np.array([(32, 38), (64, 38), (48, 52), (48, 68), (16, 44), (80, 44)], np.float32)
FACE_BOX = np.array([12, 14, 72, 72], np.float32)


def _textured(rng: np.random.Generator, shift: float = 0.0) -> np.ndarray:
    """A smooth texture, shifted right by ``shift`` pixels (steady motion)."""
    base = cv2.GaussianBlur(rng.integers(0, 256, (SIDE, SIDE + 8, 3)).astype(np.uint8), (0, 0), 3)
    m = np.float32([[1, 0, -shift], [0, 1, 0]])
    return cv2.warpAffine(base, m, (SIDE + 8, SIDE), borderMode=cv2.BORDER_REFLECT)[:, 4:SIDE + 4]


def test_centres_are_spread_over_the_clip_with_a_neighbour_on_each_side() -> None:
    c = triplet_centres(300, TRIPLETS)
    assert len(c) == TRIPLETS and c[0] >= 1 and c[-1] <= 298
    assert c[0] < 300 / TRIPLETS and c[-1] > 300 - 300 / TRIPLETS  # start to end
    assert triplet_centres(5, TRIPLETS) == [1, 2, 3]  # a short clip: every frame with two neighbours, once
    assert triplet_centres(2, TRIPLETS) == []


def test_regions_lie_inside_the_crop_and_around_their_keypoints() -> None:
    boxes = region_boxes(KEYPOINTS, FACE_BOX, SIDE)
    for name, parts in boxes.items():
        for x0, y0, x1, y1 in parts:
            assert 0 <= x0 < x1 <= SIDE and 0 <= y0 < y1 <= SIDE, name
    (mx0, my0, mx1, my1), = boxes["mouth"]
    assert mx0 < 48 < mx1 and my0 < 68 < my1 and my1 < SIDE  # the mouth, not the eyes
    assert all(y0 < 38 < y1 for _, y0, _, y1 in boxes["eyes"])
    edge = KEYPOINTS.copy()
    edge[3] = (95, 95)  # a mouth at the crop's corner still gives a non-empty box inside it
    (x0, y0, x1, y1), = region_boxes(edge, FACE_BOX, SIDE)["mouth"]
    assert x0 < x1 <= SIDE and y0 < y1 <= SIDE


def test_a_flickering_mouth_reads_as_flicker_and_steady_motion_does_not() -> None:
    rng = np.random.default_rng(0)
    names = feature_names()
    feats = np.ones((3, 8), np.float32)
    steady = Triplet(np.stack([_textured(np.random.default_rng(1), s) for s in (0, 1, 2)]), KEYPOINTS, FACE_BOX)
    still = _textured(np.random.default_rng(1))
    flicker = np.stack([still.copy() for _ in range(3)])
    x0, y0, x1, y1 = region_boxes(KEYPOINTS, FACE_BOX, SIDE)["mouth"][0]
    flicker[1, y0:y1, x0:x1] = np.clip(flicker[1, y0:y1, x0:x1] + rng.normal(0, 12, (y1 - y0, x1 - x0, 3)), 0,
                                       255).astype(np.uint8)  # the middle frame's mouth alone re-rendered
    a = dict(zip(names, triplet_features(steady, feats)))
    b = dict(zip(names, triplet_features(Triplet(flicker, KEYPOINTS, FACE_BOX), feats)))
    assert len(a) == len(names) == len(triplet_features(steady, feats))
    assert b["mouth_over_face_second"] > a["mouth_over_face_second"] + 0.5
    assert b["mouth_second_over_first"] > a["mouth_second_over_first"]
    # The CNN block reads the features' own change: equal features, no change at all.
    assert a["cnn_first"] < -10 and a["cnn_second"] < -10


def test_clip_triplets_cut_three_neighbouring_frames_with_the_middle_ones_box(face_video: Path) -> None:
    pre = PreprocessConfig(input_size=64, margin=0.3)
    triplets = clip_triplets(face_video, pre, n=4)
    assert 1 <= len(triplets) <= 4
    for t in triplets:
        assert t.crops.shape == (3, 64, 64, 3) and t.crops.dtype == np.uint8
        assert t.keypoints.shape == (6, 2) and np.all((t.keypoints > -64) & (t.keypoints < 128))
        x, y, w, h = t.face_box
        assert 0 < w <= 64 and abs(x + w / 2 - 32) < 2 and abs(y + h / 2 - 32) < 2  # the crop is centred on it
        # Neighbouring frames of one clip: close, not equal to frames far apart.
        assert np.abs(t.crops[0].astype(int) - t.crops[1]).mean() < 40


def test_the_rule_wants_a_mean_gain_and_no_large_loss() -> None:
    def results(*changes: float) -> list[dict]:
        return [{"both": {"change_vs_rgb": [c, c - 0.1, c + 0.1]}} for c in changes]

    assert judge(results(0.06, 0.06, 0.06))["pays"]
    assert not judge(results(0.20, 0.20, -0.06))["pays"]  # one kind falls too far
    assert not judge(results(0.04, 0.05, 0.05))["pays"]  # the mean gain is too small
    assert judge(results(0.04, 0.05, 0.06))["mean_change"] == pytest.approx(0.05)


def test_fewer_triplets_use_every_kth_one() -> None:
    rows = [{"label": 0, "source": "s", "split": "train", "identities": ["a"], "rgb": [0.0, 1.0],
             "temporal": [[float(k)] * len(feature_names()) for k in range(8)]}]
    assert as_clip_features(rows).blocks["temporal"][0, 0] == pytest.approx(3.5)
    assert as_clip_features(rows, every=4).blocks["temporal"][0, 0] == pytest.approx(2.0)  # triplets 0 and 4


def test_missing_data_is_an_error_line_and_exit_2(tmp_path: Path, checkpoint: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "probe.json"
    assert main(["--data", str(tmp_path / "nowhere"), "--weights", str(checkpoint), "--out", str(out),
                 "--features", str(tmp_path / "features.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists()
