"""A trained checkpoint used as a teacher: soft targets and feature hints for a student (the ResNeXt-LSTM)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...models.checkpoint import load_checkpoint
from ...models.model import ResNeXtLSTM
from ...vision.preprocessing import PreprocessConfig, resize_crop
from .model_input import as_input, frame_logits


@dataclass
class Teacher:
    """A trained checkpoint's model and crop rule, used only to produce soft targets."""

    model: ResNeXtLSTM
    pre: PreprocessConfig

    @classmethod
    def load(cls, path: str) -> "Teacher":
        ck = load_checkpoint(path)
        model = ck.model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        model.backbone.to(memory_format=torch.channels_last)
        return cls(model, ck.preprocess)

    @torch.no_grad()
    def frames(self, crops: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher features and per-frame logits of crops cut at the teacher's size."""
        return frame_logits(self.model, as_input(crops, self.pre))


def student_crops(crops: np.ndarray, pre: PreprocessConfig) -> np.ndarray:
    """The teacher-sized crops brought to the student's size (the same faces, the same degradations)."""
    return np.stack([resize_crop(c, pre) for c in crops])
