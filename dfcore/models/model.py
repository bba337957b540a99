r"""The detector: a ResNeXt CNN per face crop, an LSTM over the frame sequence.

    crops (B, T, 3, S, S) --ResNeXt--> features (B, T, F) --frame head--> per-frame fake logits (B, T)
                                              \--LSTM (batch_first)--> masked mean --clip head--> clip fake logit (B,)

The per-frame head reads the CNN features directly, so each frame's score is
that frame's own evidence (what the confidence chart shows); the clip score is
the LSTM's reading of the whole sequence. Both are logits of the "fake" class.

Three backbones, each exposing ``stem`` and ``layer1``..``layer4``:
- ``resnext_compact``: a narrow ResNeXt from torchvision's bottleneck blocks, sized
  for 2 CPU cores (the shipped ResNeXt-LSTM is a widened one, distilled from the teacher);
- ``resnext50_32x4d``: torchvision's ResNeXt-50, for parity with the classic design;
- ``efficientnet_lite0``: timm's EfficientNet-Lite0 (``dfcore.models.backbones``), the
  ImageNet-initialised teacher.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchvision.models import resnext50_32x4d
from torchvision.models.resnet import Bottleneck


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "resnext_compact"  # "resnext_compact", "resnext50_32x4d" or "efficientnet_lite0"
    stem_width: int = 32  # channels after the compact stem (compact only)
    stage_planes: tuple[int, ...] = (16, 32, 64, 128)  # bottleneck planes per stage; outputs are 4x (compact only)
    stage_blocks: tuple[int, ...] = (1, 2, 2, 1)  # bottleneck blocks per stage (compact only)
    cardinality: int = 8  # groups in each grouped 3x3 conv: the "X" in ResNeXt (compact only)
    base_width: int = 16  # width per group at 64 planes, as in torchvision (compact only)
    lstm_hidden: int = 128  # LSTM hidden size per direction
    lstm_layers: int = 1  # stacked LSTM layers
    bidirectional: bool = True  # read the sequence both ways; the clip head sees both
    dropout: float = 0.3  # dropout on CNN features before both heads (training only)
    # The clip logit is the LSTM head's reading *added to* the mean per-frame logit. The LSTM is
    # trained on clips whose frames the CNN has already learnt, where the frame evidence is
    # cleaner than on new clips; alone it learnt a prior instead of the evidence (every new
    # clip scored alike). As a correction to the frame evidence it can only refine it.
    clip_from_frames: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config field(s): {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class CompactResNeXt(nn.Module):
    """A narrow ResNeXt (grouped-conv bottlenecks) for small face crops.

    At 112 px: stem /4 -> 28x28, stages at strides (1, 2, 2, 1) -> a 7x7 final
    map, fine enough for Grad-CAM to point at facial regions.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.stem_width
        self.stem = nn.Sequential(
            nn.Conv2d(3, w // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        strides = (1, 2, 2, 1)
        inplanes = w
        stages = []
        for planes, blocks, stride in zip(cfg.stage_planes, cfg.stage_blocks, strides):
            layers = []
            for b in range(blocks):
                s = stride if b == 0 else 1
                down = None
                if s != 1 or inplanes != planes * Bottleneck.expansion:
                    down = nn.Sequential(
                        nn.Conv2d(inplanes, planes * Bottleneck.expansion, 1, stride=s, bias=False),
                        nn.BatchNorm2d(planes * Bottleneck.expansion),
                    )
                layers.append(Bottleneck(inplanes, planes, s, down, groups=cfg.cardinality, base_width=cfg.base_width))
                inplanes = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_features = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class TorchvisionResNeXt50(nn.Module):
    """torchvision's resnext50_32x4d without its classifier (random init: no downloads)."""

    def __init__(self) -> None:
        super().__init__()
        net = resnext50_32x4d(weights=None)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_features = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


STAGES = ("layer1", "layer2", "layer3", "layer4")  # the ResNeXt stages both backbones have, input to output


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown backbone stage {stage!r}; choose one of {STAGES}")


def stage_output(backbone: nn.Module, frames: torch.Tensor, stage: str) -> torch.Tensor:
    """Run a backbone (stem, layer1..layer4) up to and including ``stage``: (N, 3, S, S) -> (N, C, h, w)."""
    _check_stage(stage)
    x = backbone.stem(frames)
    for name in STAGES:
        x = getattr(backbone, name)(x)
        if name == stage:
            return x
    raise AssertionError("unreachable")


def features_after(backbone: nn.Module, acts: torch.Tensor, stage: str) -> torch.Tensor:
    """Run a backbone's stages after ``stage``, then pool: (N, C, h, w) -> (N, F)."""
    _check_stage(stage)
    x = acts
    for name in STAGES[STAGES.index(stage) + 1 :]:
        x = getattr(backbone, name)(x)
    return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def inference_backbone(backbone: nn.Module) -> nn.Module:
    """A copy of an eval-mode backbone for fast CPU inference: each BatchNorm folded into its
    convolution, weights in channels-last layout (feed it channels-last input).

    Its outputs equal the original's to float rounding (~1e-5); on 2 CPU cores
    it runs 100 face crops in about 60% of the time. Training and Grad-CAM's
    backward pass use the original.
    """
    from torch.fx.experimental.optimization import fuse  # imported here: only inference needs it

    if backbone.training:
        raise ValueError("fold BatchNorm only into an eval-mode backbone")
    fast = copy.deepcopy(backbone)
    # torch.fx cannot trace timm's TF-style "same" padding (it branches on the input size); such a
    # backbone says so with traceable = False and has its BatchNorms folded by module order instead.
    if getattr(backbone, "traceable", True):
        for name in ("stem", *STAGES):
            setattr(fast, name, fuse(getattr(fast, name)))
    else:
        fold_batchnorm_in_place(fast)
    return fast.to(memory_format=torch.channels_last)


def fold_batchnorm_in_place(module: nn.Module) -> int:
    """Fold every BatchNorm that directly follows a convolution among its parent's children into it.

    For blocks whose children are registered in the order they run, convolution then its norm, as
    timm's are; a norm that also applies an activation (timm's ``BatchNormAct2d``: norm, dropout,
    activation) keeps its dropout and activation. Eval-mode only: the running statistics become
    constants. Folding saves a full pass over each activation map per norm: for EfficientNet-Lite0
    (49 norms) it cut the model stage of a 100-frame analysis from 0.98 s to 0.81 s (``make bench``).

    Returns:
        The number of norms folded.
    """
    folded = 0
    for parent in list(module.modules()):
        names = list(parent._modules)
        for conv_name, norm_name in zip(names, names[1:]):
            conv, norm = parent._modules[conv_name], parent._modules[norm_name]
            if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)):
                continue
            if conv.training or norm.training or norm.running_var is None:
                raise ValueError("fold BatchNorm only with eval-mode running statistics")
            parent._modules[conv_name] = fuse_conv_bn_eval(conv, norm)
            after = [m for m in (getattr(norm, "drop", None), getattr(norm, "act", None)) if m is not None]
            parent._modules[norm_name] = nn.Sequential(*after) if after else nn.Identity()
            folded += 1
    return folded


class ResNeXtLSTM(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        if cfg.backbone == "resnext_compact":
            self.backbone: nn.Module = CompactResNeXt(cfg)
        elif cfg.backbone == "resnext50_32x4d":
            self.backbone = TorchvisionResNeXt50()
        elif cfg.backbone == "efficientnet_lite0":
            from .backbones import EfficientNetLite0  # imported here: it needs timm

            self.backbone = EfficientNetLite0()
        else:
            raise ValueError(f"unknown backbone {cfg.backbone!r}; "
                             "choose resnext_compact, resnext50_32x4d or efficientnet_lite0")
        feat = self.backbone.out_features
        self.dropout = nn.Dropout(cfg.dropout)
        self.frame_head = nn.Linear(feat, 1)
        self.lstm = nn.LSTM(
            feat, cfg.lstm_hidden, num_layers=cfg.lstm_layers, batch_first=True, bidirectional=cfg.bidirectional
        )
        self.clip_head = nn.Linear(cfg.lstm_hidden * (2 if cfg.bidirectional else 1), 1)

    @property
    def feature_layer(self) -> nn.Module:
        """The last ResNeXt stage: Grad-CAM's default target layer."""
        return self.backbone.layer4

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """CNN features of face crops: (N, 3, S, S) -> (N, F)."""
        return self.backbone(frames)

    def stage_output(self, frames: torch.Tensor, stage: str) -> torch.Tensor:
        """The activation map a backbone stage outputs: (N, 3, S, S) -> (N, C, h, w).

        ``features_after(stage_output(x, s), s)`` is ``features(x)``, the same
        operations in the same order: Grad-CAM reuses the map the scoring pass
        computed instead of running the CNN again.
        """
        return stage_output(self.backbone, frames, stage)

    def features_after(self, acts: torch.Tensor, stage: str) -> torch.Tensor:
        """The stages after ``stage`` and the pooling: (N, C, h, w) -> (N, F)."""
        return features_after(self.backbone, acts, stage)

    def heads(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Both heads from CNN features.

        Args:
            feats: (B, T, F) per-frame features, padded after ``lengths[b]`` steps.
            lengths: (B,) valid steps per sequence; None means all T are valid.

        Returns:
            clip logits (B,) and per-frame logits (B, T) (padded steps are meaningless).
        """
        b, t, _ = feats.shape
        feats = self.dropout(feats)
        frame_logits = self.frame_head(feats).squeeze(-1)
        if lengths is None:
            seq, _ = self.lstm(feats)
            pooled = seq.mean(dim=1)
            frame_mean = frame_logits.mean(dim=1)
        else:
            packed = pack_padded_sequence(feats, lengths.cpu(), batch_first=True, enforce_sorted=False)
            seq, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=t)
            mask = (torch.arange(t, device=feats.device)[None, :] < lengths.to(feats.device)[:, None]).float()
            # Mean over valid steps only: the score must not depend on padding.
            pooled = (seq * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
            frame_mean = (frame_logits * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        clip_logits = self.clip_head(pooled).squeeze(-1)
        if self.config.clip_from_frames:
            clip_logits = clip_logits + frame_mean
        return clip_logits, frame_logits

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, S, S) face crops -> (clip logits (B,), per-frame logits (B, T))."""
        b, t = x.shape[:2]
        feats = self.features(x.flatten(0, 1)).view(b, t, -1)
        return self.heads(feats, lengths)


# The model factory: names -> configs, as in timm's create_model.
MODEL_CONFIGS: dict[str, ModelConfig] = {
    "resnext_compact_lstm": ModelConfig(),
    # The shipped ResNeXt-LSTM: the compact design widened 2x (3.7 M parameters), distilled from the teacher.
    "resnext_wide_lstm": ModelConfig(stage_planes=(32, 64, 128, 256), clip_from_frames=True),
    # The teacher: ImageNet-initialised EfficientNet-Lite0 features (1280) into the same heads.
    "lite0_lstm": ModelConfig(backbone="efficientnet_lite0", clip_from_frames=True),
    # The classic seed design: ResNeXt-50 32x4d features into a wide LSTM.
    "resnext50_lstm": ModelConfig(backbone="resnext50_32x4d", lstm_hidden=2048, bidirectional=False, dropout=0.4),
}


def create_model(name: str, pretrained: bool = False, **overrides: object) -> ResNeXtLSTM:
    """Build a detector architecture by name.

    Args:
        name: a key of :data:`MODEL_CONFIGS`.
        pretrained: must be False; trained weights come from a checkpoint
            (:func:`dfcore.models.checkpoint.load_checkpoint`), never from a download.
        **overrides: ModelConfig fields to change.

    Returns:
        A randomly initialised :class:`ResNeXtLSTM`.

    Raises:
        ValueError: unknown name, or ``pretrained=True``.
    """
    if pretrained:
        raise ValueError("pretrained=True is not supported: load trained weights with dfcore.load_detector()")
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODEL_CONFIGS)}")
    cfg = MODEL_CONFIGS[name]
    if overrides:
        cfg = ModelConfig.from_dict({**cfg.to_dict(), **overrides})
    return ResNeXtLSTM(cfg)
