"""dfcore.models.explain: Grad-CAM maps, and placing them on frames.

The detector is the session's UNTRAINED checkpoint: these tests check the maps'
shape, range, alignment and that the shared model is left untouched, not what
the maps highlight.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dfcore.models.explain import LAYERS, gradcam_maps, map_to_frame, overlay
from dfcore.vision.preprocessing import square_crop_region


def _hooks(model: torch.nn.Module) -> dict[str, int]:
    counts = {"forward": 0, "forward_pre": 0, "backward": 0, "backward_pre": 0}
    for m in model.modules():
        counts["forward"] += len(m._forward_hooks)
        counts["forward_pre"] += len(m._forward_pre_hooks)
        counts["backward"] += len(m._backward_hooks)
        counts["backward_pre"] += len(getattr(m, "_backward_pre_hooks", {}))
    return counts


@pytest.mark.parametrize("layer", LAYERS)
def test_gradcam_maps_shape_and_range(detector, random_crops: np.ndarray, layer: str) -> None:
    maps = gradcam_maps(detector, random_crops, towards_fake=True, layer=layer)
    s = detector.preprocess.input_size
    assert maps.shape == (6, s, s)
    assert maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert maps.max() > 0.5  # not all zeros: Grad-CAM normalises each frame's map to [0, 1]
    # Most frames get a map of their own with structure in it (not a constant).
    assert sum(float(m.std()) > 0.01 for m in maps) >= 4


def test_gradcam_maps_depend_on_the_target(detector, random_crops: np.ndarray) -> None:
    to_fake = gradcam_maps(detector, random_crops, towards_fake=True)
    to_real = gradcam_maps(detector, random_crops, towards_fake=False)
    assert not np.allclose(to_fake, to_real, atol=1e-3)


def test_gradcam_maps_follow_each_frame(detector, random_crops: np.ndarray) -> None:
    maps = gradcam_maps(detector, random_crops, towards_fake=True)
    flipped = random_crops.copy()
    flipped[0] = flipped[0, :, ::-1]  # mirror frame 0 only
    maps_flipped = gradcam_maps(detector, flipped, towards_fake=True)
    assert not np.allclose(maps[0], maps_flipped[0], atol=1e-3)


def test_gradcam_is_deterministic(detector, random_crops: np.ndarray) -> None:
    a = gradcam_maps(detector, random_crops[:3], towards_fake=True)
    b = gradcam_maps(detector, random_crops[:3], towards_fake=True)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_unknown_layer(detector, random_crops: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown Grad-CAM layer"):
        gradcam_maps(detector, random_crops, towards_fake=True, layer="stem")


def test_no_crops(detector) -> None:
    with pytest.raises(ValueError, match="no face crops"):
        gradcam_maps(detector, np.zeros((0, 112, 112, 3), np.uint8), towards_fake=True)


def test_shared_model_is_untouched(detector, random_crops: np.ndarray) -> None:
    model = detector.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    requires_grad = [p.requires_grad for p in model.parameters()]
    hooks_before = _hooks(model)
    for layer in LAYERS:
        gradcam_maps(detector, random_crops[:2], towards_fake=False, layer=layer)
    assert _hooks(model) == hooks_before == {"forward": 0, "forward_pre": 0, "backward": 0, "backward_pre": 0}
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    assert [p.requires_grad for p in model.parameters()] == requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


# --------------------------------------------------------------------------- placing and drawing


def test_map_to_frame_places_map_in_crop_region() -> None:
    heat = np.ones((112, 112), np.float32)
    box, margin = (100, 60, 50, 50), 0.3
    full = map_to_frame(heat, box, margin, (240, 320, 3))
    assert full.shape == (240, 320) and full.dtype == np.float32
    x0, y0, side, _ = square_crop_region(box, margin)
    inside = np.zeros_like(full, bool)
    inside[y0 : y0 + side, x0 : x0 + side] = True
    np.testing.assert_allclose(full[inside], 1.0, atol=1e-6)
    assert (full[~inside] == 0).all()


def test_map_to_frame_keeps_orientation() -> None:
    heat = np.zeros((112, 112), np.float32)
    heat[:56, :56] = 1.0  # hot top-left quarter of the crop
    box = (100, 60, 80, 80)
    full = map_to_frame(heat, box, 0.0, (240, 320))
    ys, xs = np.nonzero(full > 0.5)
    assert xs.min() >= 100 and xs.max() < 140 + 2
    assert ys.min() >= 60 and ys.max() < 100 + 2


def test_map_to_frame_at_the_edge() -> None:
    heat = np.ones((112, 112), np.float32)
    box = (-20, -10, 60, 60)  # partly outside the frame
    full = map_to_frame(heat, box, 0.3, (240, 320))
    x0, y0, side, _ = square_crop_region(box, 0.3)
    assert full.shape == (240, 320)
    assert (full[: y0 + side, : x0 + side] > 0.99).all()
    assert full[y0 + side :, :].sum() == 0 and full[:, x0 + side :].sum() == 0
    # Entirely outside: all zeros, no error.
    assert map_to_frame(heat, (400, 300, 20, 20), 0.3, (240, 320)).sum() == 0


def test_overlay_shape_and_blend() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    heat = rng.random((60, 80)).astype(np.float32)
    out = overlay(image, heat)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(overlay(image, heat, opacity=0.0), image)
    # Full opacity: only the colour map. Hot pixels are red, cold ones blue (JET).
    hot_cold = overlay(np.zeros((1, 2, 3), np.uint8), np.array([[1.0, 0.0]], np.float32), opacity=1.0)
    assert hot_cold[0, 0, 0] > 100 and hot_cold[0, 0, 2] < 50
    assert hot_cold[0, 1, 2] > 100 and hot_cold[0, 1, 0] < 50


# --------------------------------------------------------------------------- the activation-reuse shortcut


class _FullModelClipScore(torch.nn.Module):
    """The straightforward wrapper: raw crops through the whole model, the clip logit once per frame."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        clip_logit, _ = self.model(frames.unsqueeze(0))
        return clip_logit.view(1, 1).expand(frames.shape[0], 1)


def _reference_maps(detector, crops: np.ndarray, towards_fake: bool, layer: str) -> np.ndarray:
    """Grad-CAM hooked on the stage inside the full model, from the crops (no reuse)."""
    from pytorch_grad_cam import GradCAM

    from dfcore.vision.preprocessing import to_tensor

    model = copy.deepcopy(detector.model).eval()
    x = to_tensor(crops, detector.preprocess).requires_grad_(True)
    sign = 1.0 if towards_fake else -1.0
    with torch.enable_grad(), GradCAM(model=_FullModelClipScore(model),
                                      target_layers=[getattr(model.backbone, layer)]) as cam:
        return cam(input_tensor=x, targets=[lambda out: sign * out[..., 0]] * len(crops))


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("towards_fake", [True, False])
def test_maps_from_kept_activations_equal_full_model_gradcam(detector, random_crops: np.ndarray, layer: str,
                                                            towards_fake: bool) -> None:
    kept = detector.score(random_crops, keep_stage=layer)
    fast = gradcam_maps(detector, random_crops, towards_fake, layer, stage_maps=kept.stage_maps)
    ref = _reference_maps(detector, random_crops, towards_fake, layer)
    np.testing.assert_allclose(fast, ref, atol=1e-4)
    # Without kept maps it computes them itself: the same result.
    np.testing.assert_allclose(gradcam_maps(detector, random_crops, towards_fake, layer), fast, atol=1e-6)


def test_keeping_activations_does_not_change_the_scores(detector, random_crops: np.ndarray) -> None:
    plain = detector.score(random_crops)
    kept = detector.score(random_crops, keep_stage="layer4")
    assert plain.stage_maps is None and kept.stage == "layer4"
    assert kept.stage_maps.shape[0] == len(random_crops)
    assert kept.clip_logit == pytest.approx(plain.clip_logit, abs=1e-5)
    np.testing.assert_allclose(kept.frame_probabilities, plain.frame_probabilities, atol=1e-6)


def test_stage_maps_must_belong_to_the_crops(detector, random_crops: np.ndarray) -> None:
    kept = detector.score(random_crops[:2], keep_stage="layer4")
    with pytest.raises(ValueError, match="do not belong"):
        gradcam_maps(detector, random_crops, True, "layer4", stage_maps=kept.stage_maps)
