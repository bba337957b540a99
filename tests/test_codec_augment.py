"""The codec pass of training (dfcore.training.codec_augment): a real H.264 encode and decode, in memory."""

from __future__ import annotations

import numpy as np
from dfcore.training.codec_augment import CRF_RANGE, MAX_SHIFT_PX, CodecParams, apply_codec, sample_codec


def _face_like(h: int, w: int) -> np.ndarray:
    """Smooth shapes and fine texture: what a quantiser removes first."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 13.0)[..., None]
    texture = np.random.default_rng(0).normal(0, 12, (h, w, 3))
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def test_draws_stay_in_range_and_off_draws_nothing() -> None:
    rng = np.random.default_rng(0)
    draws = [sample_codec(rng, 1.0) for _ in range(200)]
    assert all(CRF_RANGE[0] <= d.crf <= CRF_RANGE[1] for d in draws)
    assert all(abs(s) <= MAX_SHIFT_PX for d in draws for s in d.shift)
    assert {d.crf for d in draws} == set(range(CRF_RANGE[0], CRF_RANGE[1] + 1))
    assert all(sample_codec(rng, 0.0) is None for _ in range(50))
    half = [sample_codec(np.random.default_rng(k), 0.5) is None for k in range(200)]
    assert 60 < sum(half) < 140
    assert sample_codec(np.random.default_rng(7), 1.0) == sample_codec(np.random.default_rng(7), 1.0)


def test_a_pass_keeps_size_and_type_and_loses_more_at_a_higher_crf() -> None:
    img = _face_like(240, 240)
    errors = {}
    for crf in (18, 30, 42):
        out = apply_codec(img, CodecParams(crf, (2, -1)))
        assert out.shape == img.shape and out.dtype == np.uint8
        errors[crf] = np.abs(out.astype(int) - img).mean()
    assert 0 < errors[18] < errors[30] < errors[42]


def test_odd_sides_keep_their_last_row_and_column() -> None:
    img = _face_like(121, 97)
    out = apply_codec(img, CodecParams(40, (1, 1)))
    assert out.shape == img.shape
    np.testing.assert_array_equal(out[-1], img[-1])
    np.testing.assert_array_equal(out[:, -1], img[:, -1])
    assert not np.array_equal(out[:-1, :-1], img[:-1, :-1])


def test_the_picture_returned_is_the_region_not_the_moved_frame_before_it() -> None:
    yy, xx = np.mgrid[0:96, 0:96]
    img = np.repeat(np.where((yy // 6 + xx // 6) % 2, 190, 60).astype(np.uint8)[..., None], 3, axis=2)  # edges
    p = CodecParams(30, (3, -3))
    out = apply_codec(img, p).astype(int)
    moved = np.roll(img, p.shift, axis=(0, 1)).astype(int)
    assert np.abs(out - img).mean() < 0.5 * np.abs(out - moved).mean()
