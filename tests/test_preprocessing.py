"""dfcore.vision.preprocessing: the one crop and tensor rule shared by training and inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfcore.vision.preprocessing import PreprocessConfig, crop_face, resize_crop, square_crop_region, to_image, to_tensor

CFG = PreprocessConfig()


def _coordinate_frame(h: int = 240, w: int = 320) -> np.ndarray:
    """A frame whose R channel is x/ (w-1) * 255 and G channel y / (h-1) * 255: pixels say where they are."""
    xs = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    ys = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    return np.stack([xs, ys, np.full((h, w), 128.0)], axis=-1).round().astype(np.uint8)


@pytest.mark.parametrize(
    ("box", "margin", "expected"),
    [
        ((100, 50, 80, 80), 0.0, (100, 50, 80, 80)),
        ((100, 50, 80, 80), 0.5, (80, 30, 120, 120)),  # 40 px more, centred: 20 each side
        ((100, 50, 60, 80), 0.25, (80, 40, 100, 100)),  # longer side 80 -> 100, centred on (130, 90)
        ((0, 0, 1, 1), 0.0, (0, 0, 1, 1)),
    ],
)
def test_square_crop_region(box, margin, expected) -> None:
    assert square_crop_region(box, margin) == expected


def test_square_crop_region_is_square_and_centred() -> None:
    for box in [(10, 20, 30, 50), (-20, 5, 41, 17), (300, 200, 77, 64)]:
        x, y, w, h = square_crop_region(box, 0.3)
        assert w == h == round(max(box[2], box[3]) * 1.3)
        assert abs((x + w / 2) - (box[0] + box[2] / 2)) <= 1
        assert abs((y + h / 2) - (box[1] + box[3] / 2)) <= 1


def test_crop_face_shape_and_content() -> None:
    frame = _coordinate_frame()
    box = (100, 60, 80, 80)
    crop = crop_face(frame, box, CFG)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    # The crop covers the region square_crop_region says: its corners hold those coordinates.
    x0, y0, side, _ = square_crop_region(box, CFG.margin)
    assert abs(int(crop[0, 0, 0]) - int(frame[y0, x0, 0])) <= 3
    assert abs(int(crop[-1, -1, 0]) - int(frame[y0 + side - 1, x0 + side - 1, 0])) <= 3
    assert abs(int(crop[-1, -1, 1]) - int(frame[y0 + side - 1, x0 + side - 1, 1])) <= 3


def test_crop_face_other_size() -> None:
    cfg = PreprocessConfig(input_size=64, margin=0.0)
    crop = crop_face(_coordinate_frame(), (10, 10, 200, 100), cfg)
    assert crop.shape == (64, 64, 3)


@pytest.mark.parametrize("box", [(-30, -20, 80, 80), (280, 200, 80, 80), (0, 0, 320, 240), (300, 0, 40, 240)])
def test_box_at_frame_edge_is_padded(box) -> None:
    frame = _coordinate_frame()
    crop = crop_face(frame, box, CFG)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8


def test_edge_padding_replicates_border_and_keeps_scale() -> None:
    frame = _coordinate_frame()
    # A box hanging off the left edge: the crop's left part is replicated column 0 (R == 0).
    box = (-40, 80, 80, 80)
    cfg = PreprocessConfig(margin=0.0, input_size=80)  # 80 px region -> 80 px crop: no resampling
    crop = crop_face(frame, box, cfg)
    assert crop.shape == (80, 80, 3)
    assert (crop[:, :40, 0] == 0).all()  # outside the frame: the border column, replicated
    np.testing.assert_array_equal(crop[:, 40:], frame[80:160, 0:40])  # inside: the frame itself, unscaled


def test_to_tensor_shape_and_normalisation() -> None:
    crops = np.zeros((3, 112, 112, 3), np.uint8)
    crops[0] = 255
    crops[1] = 128
    crops[2, :, :, 0] = 255  # pure red
    t = to_tensor(crops, CFG)
    assert t.shape == (3, 3, 112, 112) and t.dtype == torch.float32
    assert t.is_contiguous()  # plain NCHW: ONNX Runtime reads the buffer as it is, without another copy
    # (v / 255 - 0.5) / 0.25: white -> 2, black -> -2.
    assert torch.allclose(t[0], torch.full((3, 112, 112), 2.0))
    assert torch.allclose(t[1], torch.full((3, 112, 112), (128 / 255 - 0.5) / 0.25), atol=1e-6)
    assert torch.allclose(t[2, 0], torch.full((112, 112), 2.0))  # channel order stays RGB
    assert torch.allclose(t[2, 1:], torch.full((2, 112, 112), -2.0))


def test_to_tensor_accepts_a_list() -> None:
    crops = [np.full((112, 112, 3), v, np.uint8) for v in (0, 100)]
    assert torch.equal(to_tensor(crops, CFG), to_tensor(np.stack(crops), CFG))


def test_to_image_inverts_to_tensor() -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    back = to_image(to_tensor(crops, CFG), CFG)
    assert back.shape == crops.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - crops.astype(int)).max() <= 1


def test_to_image_inverts_other_config() -> None:
    cfg = PreprocessConfig(input_size=32, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    crops = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    back = to_image(to_tensor(crops, cfg), cfg)
    assert np.abs(back.astype(int) - crops.astype(int)).max() <= 1


@pytest.mark.parametrize(
    "shape", [(112, 112, 3), (2, 112, 112), (2, 112, 112, 4), (2, 3, 112, 112), (2, 100, 112, 3), (2, 64, 64, 3)]
)
def test_to_tensor_wrong_shape(shape) -> None:
    with pytest.raises(ValueError, match="expected crops of shape"):
        to_tensor(np.zeros(shape, np.uint8), CFG)


def test_config_round_trip() -> None:
    cfg = PreprocessConfig(input_size=96, margin=0.4, mean=(0.1, 0.2, 0.3), std=(0.3, 0.2, 0.1))
    d = cfg.to_dict()
    assert d["mean"] == [0.1, 0.2, 0.3]  # JSON-friendly lists
    assert PreprocessConfig.from_dict(d) == cfg


def test_resize_crop_matches_crop_face() -> None:
    frame = _coordinate_frame()
    box = (100, 60, 80, 80)
    big = crop_face(frame, box, PreprocessConfig(input_size=224))
    direct = crop_face(frame, box, CFG)
    resized = resize_crop(big, CFG)
    assert resized.shape == direct.shape
    assert np.abs(resized.astype(int) - direct.astype(int)).max() <= 3
    assert resize_crop(direct, CFG) is direct
