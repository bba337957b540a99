"""One face as the model sees it in training: the self-blend, the codec, the crop, the camera, the degradations.

The crop is cut by the inference pipeline's own ``crop_face``, so training and analysis never disagree on what a
face crop is; the blend happens on the generous cached region *before* it, as a face swap is blended into the
frame before anyone crops it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ...models.model import ResNeXtLSTM
from ...synth.blend import BlendOptions, apply_blend
from ...vision.preprocessing import PreprocessConfig, crop_face, to_tensor
from ..augment import apply_augment, sample_augment
from ..codec_augment import CodecParams, apply_codec, sample_codec
from ..recipe import RunConfig
from ..sources.face_cache import CropSet
from ..webcam_augment import WebcamParams, apply_webcam, sample_webcam


def run_preprocess(run: RunConfig) -> PreprocessConfig:
    """The crop and tensor rule a run's model is trained with (and its checkpoint carries)."""
    return PreprocessConfig(input_size=run.input_size, mean=run.mean, std=run.std)


def train_blend(run: RunConfig) -> BlendOptions:
    """The self-blends a run trains on: the Face Mesh outline most of the time, as the SBI paper's landmark hull."""
    return BlendOptions(keypoint_mask_prob=0.8, inner_face_prob=run.inner_face_prob,
                        region_probs=tuple(run.blend_regions), neural_look_prob=run.neural_look_prob)


def model_face(cs: CropSet, i: int, pre: PreprocessConfig, rng: np.random.Generator,
               strength: float, blend: object | None = None, augment: object | None = None,
               webcam: Camera | None = None, codec: CodecParams | None = None) -> np.ndarray:
    """One face as the model sees it in training: (blended) region -> (codec) -> the model's crop -> (camera) ->
    degraded.

    Args:
        cs: the cached regions; ``i`` the one to use.
        pre: the model's crop rule; the crop is cut with the inference function ``crop_face``.
        rng: randomness for the augmentation's noise (and its draw when ``augment`` is None).
        strength: augmentation strength when drawing.
        blend: BlendParams to self-blend with (None: the real face).
        augment: AugmentParams (None: drawn here).
        webcam: camera degradations applied before the web's, with their own noise (None: none).
        codec: an H.264 pass over the whole region, after the blend (None: none).
    """
    region = cs.crops[i]
    box = cs.face_box(i)
    if blend is not None:
        region, _ = apply_blend(region, box, cs.keypoints[i].tolist(), blend, landmarks=cs.mesh(i))
    if codec is not None:
        region = apply_codec(region, codec)
    crop = crop_face(region, box, pre)
    if webcam is not None:
        crop = apply_webcam(crop, webcam.params, webcam.noise)
    return apply_augment(crop, augment or sample_augment(rng, strength), rng)


class Camera(NamedTuple):
    """One face's or sequence's camera: its degradations, and the generator of its sensor noise."""

    params: WebcamParams
    noise: np.random.Generator  # its own: the batch's stream of draws stays as it is without a camera


def camera(rng: np.random.Generator | None, run: RunConfig) -> Camera | None:
    """The camera of one face or sequence, drawn from ``rng`` (a generator of its own); None when off."""
    if rng is None or run.webcam_prob <= 0:
        return None
    return Camera(sample_webcam(rng, run.webcam_prob), np.random.default_rng(int(rng.integers(2**31 - 1))))


def codec_pass(rng: np.random.Generator | None, run: RunConfig) -> CodecParams | None:
    """The codec pass of one face or sequence, drawn from ``rng`` (a generator of its own); None when off."""
    if rng is None or run.codec_prob <= 0:
        return None
    return sample_codec(rng, run.codec_prob)


def frame_logits(model: ResNeXtLSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CNN features (N, F) and per-frame logits (N,) of a batch of single faces."""
    feats = model.features(x)
    return feats, model.frame_head(model.dropout(feats)).squeeze(-1)


def as_input(crops: np.ndarray, pre: PreprocessConfig) -> torch.Tensor:
    """uint8 crops -> the normalised, channels-last tensor the CNNs run fastest on (on CPU, 5x for Lite0)."""
    return to_tensor(crops, pre).contiguous(memory_format=torch.channels_last)
