"""dfcore.training.augment: training-time degradations (strength 0 is the identity up to the random flip)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from dfcore.training.augment import AugmentParams, apply_augment, sample_augment

IDENTITY = AugmentParams(flip=False, jpeg_quality=None, blur_sigma=0.0, down_scale=1.0, brightness=0.0,
                         contrast=1.0, saturation=1.0, noise_sigma=0.0)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A smooth, colourful 64x48 RGB image (upsampled noise), not symmetric left-right."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (64, 48), interpolation=cv2.INTER_CUBIC)


def test_strength_zero_draws_only_the_flip() -> None:
    flips = []
    for seed in range(40):
        p = sample_augment(np.random.default_rng(seed), strength=0.0)
        assert dataclasses.replace(p, flip=False) == IDENTITY
        flips.append(p.flip)
    assert 5 < sum(flips) < 35  # the flip stays random (about half)


def test_strength_zero_is_identity_up_to_flip(image: np.ndarray) -> None:
    for seed in range(10):
        rng = np.random.default_rng(seed)
        p = sample_augment(rng, strength=0.0)
        out = apply_augment(image, p, rng)
        expected = image[:, ::-1] if p.flip else image
        np.testing.assert_array_equal(out, expected)
        assert out.flags["C_CONTIGUOUS"]


def test_identity_params_leave_image_unchanged(image: np.ndarray) -> None:
    out = apply_augment(image, IDENTITY, np.random.default_rng(0))
    np.testing.assert_array_equal(out, image)
    flipped = apply_augment(image, dataclasses.replace(IDENTITY, flip=True), np.random.default_rng(0))
    np.testing.assert_array_equal(flipped, image[:, ::-1])


def test_outputs_uint8_same_shape_and_seeded(image: np.ndarray) -> None:
    changed = 0
    for seed in range(30):
        p = sample_augment(np.random.default_rng(seed), strength=1.0)
        assert p == sample_augment(np.random.default_rng(seed), strength=1.0)
        a = apply_augment(image, p, np.random.default_rng(100 + seed))
        b = apply_augment(image, p, np.random.default_rng(100 + seed))
        assert a.shape == image.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        base = image[:, ::-1] if p.flip else image
        changed += not np.array_equal(a, base)
    assert changed >= 25  # at full strength nearly every draw degrades the image


def test_full_strength_ranges() -> None:
    draws = [sample_augment(np.random.default_rng(s), strength=1.0) for s in range(200)]
    for p in draws:
        assert p.jpeg_quality is None or 35 <= p.jpeg_quality <= 95
        assert p.blur_sigma == 0.0 or 0.3 <= p.blur_sigma <= 1.5
        assert p.down_scale == 1.0 or 0.4 <= p.down_scale <= 0.9
        assert abs(p.brightness) <= 25
        assert 0.75 <= p.contrast <= 1.3
        assert 0.6 <= p.saturation <= 1.4
        assert p.noise_sigma == 0.0 or 1 <= p.noise_sigma <= 6
    # Each degradation turns up at roughly its probability (0.6 for JPEG, 0.15 for noise).
    jpeg = np.mean([p.jpeg_quality is not None for p in draws])
    noise = np.mean([p.noise_sigma > 0 for p in draws])
    assert 0.45 < jpeg < 0.75 and 0.05 < noise < 0.28


@pytest.mark.parametrize(
    "change",
    [
        {"jpeg_quality": 40},
        {"blur_sigma": 1.2},
        {"down_scale": 0.5},
        {"brightness": 20.0},
        {"contrast": 0.8},
        {"saturation": 0.6},
        {"noise_sigma": 4.0},
    ],
)
def test_each_degradation_alters_the_image(image: np.ndarray, change: dict) -> None:
    p = dataclasses.replace(IDENTITY, **change)
    out = apply_augment(image, p, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() > 0.3


def test_brightness_and_contrast_act_as_documented(image: np.ndarray) -> None:
    brighter = apply_augment(image, dataclasses.replace(IDENTITY, brightness=10.0), np.random.default_rng(0))
    mid = (image > 20) & (image < 235)  # away from clipping
    np.testing.assert_allclose(brighter[mid].astype(int) - image[mid], 10, atol=1)
    flat = apply_augment(image, dataclasses.replace(IDENTITY, contrast=0.5), np.random.default_rng(0))
    assert flat.astype(float).std() == pytest.approx(0.5 * image.astype(float).std(), rel=0.05)
    assert flat.astype(float).mean() == pytest.approx(image.astype(float).mean(), abs=1.0)
