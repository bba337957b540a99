"""Face manipulations made in-house: self-blended pseudo-fakes and a talking-mouth warp.

:func:`self_blend` follows Self-Blended Images (Shiohara & Yamasaki, CVPR 2022):
a real face is blended with a slightly altered copy of itself (colour jitter,
sharpening or blurring, a small shift/scale/rotation) through a soft, randomly
deformed face mask. The result carries what face swaps leave behind -- a blending
boundary, colour and detail mismatches, slightly misaligned features -- without
any identity change, so a detector trained on it learns the artefacts rather than
particular faces or particular generators.

Randomness is drawn once into a :class:`BlendParams` (:func:`sample_blend_params`)
and applied by :func:`apply_blend`; applying the same params to every frame of a
clip gives a temporally consistent pseudo-fake, as a real face swap would be. All
params are relative to the face box, so they mean the same on a 112 px crop and
on a full frame. Work is done only in the region around the face, which keeps it
to a few milliseconds per face.

:func:`warp_face_region` is a second, different manipulation for the sample
clips: the mouth and jaw move over time as if talking, and the face region is
re-rendered at lower detail, like a reenactment model's output pasted back.

Targeted blends (``BlendOptions.region_probs``) blend only part of the face, as the
manipulations that leave the rest of the frame intact do: the mouth and jaw (lip-sync,
NeuralTextures), the eyes and brows, or the inner face from brows to chin (reenactment's
expression regions). ``BlendOptions.neural_look_prob`` gives the altered copy the look of
a neural renderer (smoothed, re-sampled, colour shifted) inside the blended region. Both are
drawn from generators seeded by an existing draw, so recipes without them draw exactly
what they drew before.

Keypoints, where given, are MediaPipe face detection's six, in pixels, in its
order: right eye, left eye, nose tip, mouth centre, right ear, left ear
(:class:`dfcore.vision.faces.Detection`). Landmarks, where given, are Face Mesh's 468
points (:mod:`dfcore.vision.face_mesh`): their hull is the face's true outline, the
mask the SBI paper draws from its landmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..vision.preprocessing import Box

Point = tuple[float, float]

# Indices into MediaPipe face detection's keypoints.
_EYE_R, _EYE_L, _NOSE, _MOUTH, _EAR_R, _EAR_L = range(6)
# Where those keypoints typically sit in a MediaPipe face box, as fractions of
# (w, h): stands in for the keypoints when a caller has only a box.
_TYPICAL_KEYPOINTS = ((0.29, 0.35), (0.71, 0.35), (0.5, 0.6), (0.5, 0.77), (0.05, 0.4), (0.95, 0.4))
_OUTLINE_POINTS = 72  # vertices of a mask outline: smooth after blurring, cheap to fill
# The mask is rendered at a resolution where its blur sigma is this many pixels,
# then upsampled: a wide blur at full resolution would dominate the cost.
_MASK_SIGMA_LOWRES = 2.0
# Face Mesh indices (MediaPipe's FACEMESH_FACE_OVAL, in its order, and FACEMESH_LEFT/RIGHT_EYEBROW), kept here so
# blending needs no MediaPipe import. The inner-face mask is the hull of the brows and of the outline below them.
_MESH_FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
                   148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
_MESH_BROWS = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
_MESH_FOREHEAD_TOP, _MESH_CHIN = 10, 152
# MediaPipe's FACEMESH_LIPS (outer and inner lip contours) and FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE (each eye's
# contour): the mouth and eye regions that lip-sync and reenactment re-render. 0 is the top of the upper lip.
_MESH_LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269,
              270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
_MESH_RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
_MESH_LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
_MESH_UPPER_LIP_TOP = 0
# The eye contours are the lid margins; a blink or a gaze change moves the lids' skin around them too, so the
# eye region takes each contour scaled by this about the eye's centre.
_EYE_LID_SCALE = 1.6
_MESH_POINTS = 468  # a full mesh: the region masks index into it
# The regions a blend can cover, in the order of BlendOptions.region_probs.
REGIONS = ("face", "mouth", "eyes", "inner")
REGION_NAMES = {"face": "the whole face", "mouth": "the mouth and jaw", "eyes": "the eyes", "inner": "the inner face"}
# Edge blur of each region relative to a whole face's: the mouth and the eye band are a fraction of the face's
# size, and a seam as wide as a whole face's would wash them out (and reach the features they must leave alone).
_REGION_BLUR_SCALE = {"face": 1.0, "inner": 1.0, "mouth": 0.5, "eyes": 0.35}
# Keypoint stand-ins for the mesh regions, in the face's own frame: (centre along eye-to-mouth from the mouth or
# from the eyes' midpoint, half-height in eye-to-mouth lengths, half-width in eye-to-eye lengths). The mouth's
# reaches from under the nose to the chin and past the mouth corners; the eyes' from above the brows to under
# the lower lids and past the outer brow ends.
_KEYPOINT_MOUTH_ELLIPSE = (0.15, 0.55, 0.75)
_KEYPOINT_EYES_ELLIPSE = (-0.1, 0.3, 0.95)
# Derived-stream keys: the region and the neural look are drawn from generators seeded by the already-drawn
# mask_seed and these keys, so adding them moved no draw of the caller's generator.
_REGION_STREAM, _NEURAL_STREAM = 1, 2
# Colour sigma of the neural look's bilateral smoothing, 0-255 levels: flattens skin texture (a few levels)
# and keeps the edges of eyes, brows and lips (tens of levels), as a renderer's smooth output does.
_BILATERAL_SIGMA_COLOUR = 20.0


@dataclass(frozen=True)
class BlendOptions:
    # Colour of the altered "source" copy.
    hue_deg: float = 6.0  # max |hue rotation|, degrees
    saturation: float = 0.2  # saturation gain drawn from [1 - s, 1 + s]
    brightness: float = 12.0  # max |brightness shift|, in 0-255 levels
    contrast: float = 0.12  # contrast gain (around the face's mean colour) drawn from [1 - c, 1 + c]
    rgb_shift: float = 10.0  # max |per-channel shift|, in 0-255 levels
    # Detail of the source copy: sharpened, blurred, or left alone.
    sharpen_prob: float = 0.35  # chance of an unsharp mask
    blur_prob: float = 0.35  # chance of a Gaussian blur (otherwise, with the rest, no change)
    sharpen_gain: tuple[float, float] = (0.4, 1.2)  # unsharp-mask gain range
    blur_sigma: tuple[float, float] = (0.004, 0.01)  # blur sigma range, fraction of the box's longer side
    # Small geometric misalignment of the source copy, about the face centre.
    scale: tuple[float, float] = (0.95, 1.05)  # scale range
    translate: float = 0.03  # max |shift| along each axis, fraction of the box's width / height
    rotate_deg: float = 2.0  # max |rotation|, degrees
    # Blending mask.
    # Chance of the face-outline mask rather than the box ellipse: the hull of the Face Mesh landmarks
    # when given, else of the keypoints (extended to brows and chin) when given.
    keypoint_mask_prob: float = 0.5
    # Of those outline masks, the share that stops at the brows ("inner": the hull of the brows and the jaw line,
    # what a 68-landmark hull covers and where most face swaps put their seam) instead of going up the forehead
    # as the whole mesh does. Without Face Mesh landmarks an "inner" mask is the keypoint outline (brow-high too).
    inner_face_prob: float = 0.0
    mask_grow: tuple[float, float] = (0.88, 1.08)  # outline scale about its centre: < 1 erodes, > 1 dilates
    mask_elastic: float = 0.08  # max relative wobble of the outline's radius (random, smooth along the outline)
    mask_blur: tuple[float, float] = (0.01, 0.08)  # edge blur sigma range, fraction of the box's longer side
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # mask peak, drawn uniformly from these
    # Targeted blends. Chances that the blended region is the whole face (the masks above), the mouth and jaw
    # (lip-sync, NeuralTextures), the eyes with the brows, or the inner face from the brows to the chin
    # (reenactment's expression regions); in the order of REGIONS, summing to 1.
    region_probs: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    # Chance that the source copy also gets the look of neural rendering (smoothed, re-sampled, colour shifted).
    neural_look_prob: float = 0.0
    neural_bilateral_prob: float = 0.5  # of those, the share smoothed edge-preserving (bilateral), else Gaussian
    neural_smooth_sigma: tuple[float, float] = (0.005, 0.02)  # smoothing sigma range, fraction of the box side
    neural_resample: tuple[float, float] = (0.4, 0.8)  # down-sampling factor range (then up again)
    neural_colour_shift: float = 4.0  # max |per-channel shift|, 0-255 levels: slight, a renderer's colour drift

    def __post_init__(self) -> None:
        # Checked here, not at each draw: a recipe with a bad region share should fail when it is written.
        probs = self.region_probs
        if len(probs) != len(REGIONS) or min(probs) < 0 or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
            raise ValueError(f"region_probs {probs}: need {len(REGIONS)} non-negative chances summing to 1")
        if not 0.0 <= self.neural_look_prob <= 1.0:
            raise ValueError(f"neural_look_prob {self.neural_look_prob} is not a probability")


@dataclass(frozen=True)
class BlendParams:
    """One draw of :class:`BlendOptions`: everything :func:`apply_blend` needs, nothing random left."""

    hue_deg: float  # hue rotation of the source, degrees
    saturation: float  # saturation gain of the source
    brightness: float  # brightness shift of the source, 0-255 levels
    contrast: float  # contrast gain of the source around the face's mean colour
    rgb_shift: tuple[float, float, float]  # per-channel shift of the source, 0-255 levels
    detail: str  # "sharpen", "blur" or "none"
    detail_amount: float  # unsharp gain ("sharpen"), or blur sigma as a fraction of the box side ("blur")
    scale: float  # source scale about the face centre
    shift: tuple[float, float]  # source shift, fractions of the box's (width, height)
    rotate_deg: float  # source rotation about the face centre, degrees (counter-clockwise)
    # "keypoints" (hull of the Face Mesh landmarks, else of the expanded keypoints), "inner" (the same, stopped
    # at the brows) or "ellipse"
    mask_shape: str
    mask_grow: float  # outline scale about its centre
    mask_elastic: float  # max relative wobble of the outline's radius
    mask_seed: int  # seeds the outline's wobble, so the same params give the same mask
    mask_blur: float  # edge blur sigma, fraction of the box's longer side
    blend_ratio: float  # peak of the mask: 1 replaces the face, less mixes it with the original
    # The blended region, one of REGIONS: "face" uses mask_shape; "mouth", "eyes" and "inner" have their own
    # outlines (Face Mesh when given, else the keypoints) and ignore it. Defaults are what recipes drew before.
    region: str = "face"
    neural_look: bool = False  # whether the source copy is re-rendered as below
    neural_smooth: str = "none"  # "bilateral" or "gaussian" with a neural look, else "none"
    neural_smooth_sigma: float = 0.0  # smoothing sigma, fraction of the box's longer side
    neural_resample: float = 1.0  # down-sampling factor before sampling back up (1: none)
    neural_colour_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # per-channel shift, 0-255 levels


def sample_blend_params(rng: np.random.Generator, options: BlendOptions | None = None) -> BlendParams:
    """Draw one set of blend parameters.

    Args:
        rng: the source of randomness; the same generator state gives the same params.
        options: the ranges to draw from.

    Returns:
        The :class:`BlendParams`, to pass to :func:`apply_blend` for one image or every frame of a clip.
    """
    o = options or BlendOptions()
    params = _sample_base_params(rng, o)
    region = _draw_region(params.mask_seed, o)
    return replace(params, region=region, **_draw_neural_look(params.mask_seed, o))


def _sample_base_params(rng: np.random.Generator, o: BlendOptions) -> BlendParams:
    """The params every recipe has drawn from the start, in their pinned order (the seed-pinned draws)."""
    u = rng.uniform
    detail_roll = u()
    if detail_roll < o.sharpen_prob:
        detail, amount = "sharpen", u(*o.sharpen_gain)
    elif detail_roll < o.sharpen_prob + o.blur_prob:
        detail, amount = "blur", u(*o.blur_sigma)
    else:
        detail, amount = "none", 0.0
    return BlendParams(
        hue_deg=float(u(-o.hue_deg, o.hue_deg)),
        saturation=float(u(1 - o.saturation, 1 + o.saturation)),
        brightness=float(u(-o.brightness, o.brightness)),
        contrast=float(u(1 - o.contrast, 1 + o.contrast)),
        rgb_shift=tuple(float(v) for v in u(-o.rgb_shift, o.rgb_shift, size=3)),
        detail=detail,
        detail_amount=float(amount),
        scale=float(u(*o.scale)),
        shift=(float(u(-o.translate, o.translate)), float(u(-o.translate, o.translate))),
        rotate_deg=float(u(-o.rotate_deg, o.rotate_deg)),
        mask_shape=_mask_shape(u(), o),  # drawn here, in its place in the stream: recipes keep their draws
        mask_grow=float(u(*o.mask_grow)),
        mask_elastic=float(u(0.0, o.mask_elastic)),
        mask_seed=int(rng.integers(0, 2**31 - 1)),
        mask_blur=float(u(*o.mask_blur)),
        blend_ratio=float(rng.choice(o.blend_ratios)),
    )


def _draw_region(mask_seed: int, o: BlendOptions) -> str:
    """The blended region, drawn from a generator of its own: the caller's stream is left as it was."""
    roll = np.random.default_rng([mask_seed, _REGION_STREAM]).uniform()
    # roll < 1 always, so (1, 0, 0, 0) gives "face" every time; min() guards a sum a hair under 1.
    index = int(np.searchsorted(np.cumsum(o.region_probs), roll, side="right"))
    return REGIONS[min(index, len(REGIONS) - 1)]


def _draw_neural_look(mask_seed: int, o: BlendOptions) -> dict[str, object]:
    """The neural-look fields of :class:`BlendParams`, from a generator of their own; {} (the defaults) if none."""
    rng = np.random.default_rng([mask_seed, _NEURAL_STREAM])
    if rng.uniform() >= o.neural_look_prob:
        return {}
    return {
        "neural_look": True,
        "neural_smooth": "bilateral" if rng.uniform() < o.neural_bilateral_prob else "gaussian",
        "neural_smooth_sigma": float(rng.uniform(*o.neural_smooth_sigma)),
        "neural_resample": float(rng.uniform(*o.neural_resample)),
        "neural_colour_shift": tuple(float(v) for v in rng.uniform(-o.neural_colour_shift, o.neural_colour_shift, 3)),
    }


def _mask_shape(roll: float, o: BlendOptions) -> str:
    """The mask shape for a uniform draw: the outline below ``keypoint_mask_prob``, the inner face in its first
    ``inner_face_prob`` part, so adding inner faces turns outline masks into inner ones and changes no other draw."""
    if roll < o.keypoint_mask_prob * o.inner_face_prob:
        return "inner"
    return "keypoints" if roll < o.keypoint_mask_prob else "ellipse"


def face_mask(
    shape: tuple[int, int],
    box: Box,
    keypoints: Sequence[Point] | None,
    rng: np.random.Generator,
    options: BlendOptions | None = None,
) -> np.ndarray:
    """A random soft blending mask over one face.

    The outline is the box's ellipse or the hull of the keypoints expanded to
    brows and chin, scaled (eroded or dilated), wobbled, blurred at its edge and
    scaled to a random peak, as drawn by :func:`sample_blend_params`.

    Args:
        shape: (height, width) of the image the mask is for.
        box: the face box (x, y, w, h) in pixels.
        keypoints: MediaPipe's six face keypoints in pixels, or None (the ellipse is used).
        rng: the source of randomness.
        options: the ranges to draw from.

    Returns:
        (H, W) float32 mask in [0, 1].
    """
    params = sample_blend_params(rng, options)
    mask = np.zeros(shape[:2], np.float32)
    drawn = _blend_mask(shape, box, keypoints, params, None)
    if drawn is not None:
        (x0, y0, x1, y1), m = drawn
        mask[y0:y1, x0:x1] = m
    return mask


def apply_blend(
    image: np.ndarray, box: Box, keypoints: Sequence[Point] | None, params: BlendParams,
    landmarks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Blend a face with an altered copy of itself, as drawn in ``params``.

    Args:
        image: (H, W, 3) uint8 RGB image: a face crop or a full frame.
        box: the face box (x, y, w, h) in that image's pixels.
        keypoints: MediaPipe's six face keypoints in pixels, or None; a
            "keypoints" mask falls back to the box ellipse without them, and a
            mouth, eyes or inner-face region to typical keypoint positions in the box.
        params: from :func:`sample_blend_params`.
        landmarks: Face Mesh's (468, 2) landmarks in pixels, or None (the mesh
            failed); a "keypoints" mask is their hull when given, else the keypoints',
            and a region's outline is the hull of its mesh points when given, else
            an outline built from the keypoints.

    Returns:
        The blended image (new array, same shape, uint8 RGB) and the mask used,
        (H, W) float32 in [0, 1]: how much of each pixel comes from the altered copy.

    Raises:
        ValueError: the image is not (H, W, 3) uint8, the box is empty or the region is not one of REGIONS.
    """
    _check_image(image)
    _check_box(box)
    if params.region not in REGIONS:
        raise ValueError(f"blend region {params.region!r} is not one of {REGIONS}")
    h, w = image.shape[:2]
    out = image.copy()
    mask = np.zeros((h, w), np.float32)
    drawn = _blend_mask((h, w), box, keypoints, params, landmarks)
    if drawn is None:  # the face lies outside the image: nothing to blend
        return out, mask
    roi, m = drawn
    x0, y0, x1, y1 = roi
    source = _altered_source(image, box, roi, params)
    if params.neural_look:
        # On the source only: the mask below confines the look to the blended region, as a renderer's output
        # pasted back would be.
        source = _neural_look(source, box, params)
    target = image[y0:y1, x0:x1].astype(np.float32)
    blended = target + (source.astype(np.float32) - target) * m[..., None]
    out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    mask[y0:y1, x0:x1] = m
    return out, mask


def self_blend(
    image: np.ndarray,
    box: Box,
    keypoints: Sequence[Point] | None,
    rng: np.random.Generator,
    options: BlendOptions | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a self-blended pseudo-fake of one image: :func:`sample_blend_params` then :func:`apply_blend`.

    Args:
        image: (H, W, 3) uint8 RGB image: a face crop or a full frame.
        box: the face box (x, y, w, h) in pixels.
        keypoints: MediaPipe's six face keypoints in pixels, or None.
        rng: the source of randomness; the same generator state gives the same result.
        options: the ranges to draw from.

    Returns:
        The blended uint8 RGB image and its (H, W) float32 mask in [0, 1].

    Raises:
        ValueError: the image is not (H, W, 3) uint8 or the box is empty.
    """
    return apply_blend(image, box, keypoints, sample_blend_params(rng, options))


def warp_face_region(
    image: np.ndarray, box: Box, keypoints: Sequence[Point] | None, t: float, strength: float = 1.0
) -> np.ndarray:
    """Make the mouth and jaw move as if talking, and re-render the face at lower detail.

    A smooth displacement field pulls the lower lip and jaw down by an amount
    that varies with ``t`` at syllable rate (about 3 Hz); the upper lip lifts
    slightly. The warped face is also downsampled and upsampled, as the output
    of a reenactment model usually is, and pasted back through a soft mask, so
    the clip shows both motion that the rest of the head does not share and a
    detail mismatch at the face boundary. Deterministic in its arguments.

    Args:
        image: (H, W, 3) uint8 RGB image.
        box: the face box (x, y, w, h) in pixels.
        keypoints: MediaPipe's six face keypoints in pixels, or None (typical
            positions inside the box are assumed).
        t: time in seconds; the mouth opening is a smooth function of it.
        strength: scales the jaw movement; 1 opens it by up to about a sixth
            of the eye-to-mouth distance, 0 leaves only the re-rendering.

    Returns:
        The manipulated image (new array, same shape, uint8 RGB).

    Raises:
        ValueError: the image is not (H, W, 3) uint8 or the box is empty.
    """
    _check_image(image)
    _check_box(box)
    kps = _keypoints_or_typical(box, keypoints)
    eye_mid = (kps[_EYE_R] + kps[_EYE_L]) / 2
    down = kps[_MOUTH] - eye_mid
    face_len = float(np.hypot(*down))
    if face_len < 1.0:  # degenerate keypoints: no direction to move the jaw along
        return image.copy()
    u_down = down / face_len
    u_right = np.array([-u_down[1], u_down[0]], np.float32)

    outline = _keypoint_outline(kps, grow=1.05)
    sigma = 0.06 * max(box[2], box[3])
    roi = _mask_roi(outline, box, None, image.shape[:2], blur_px=sigma)
    if roi is None:
        return image.copy()
    x0, y0, x1, y1 = roi
    # Coordinates of every ROI pixel in the face's frame, in eye-to-mouth units, mouth at the origin.
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    rx, ry = gx - kps[_MOUTH][0], gy - kps[_MOUTH][1]
    across = (rx * u_right[0] + ry * u_right[1]) / face_len
    along = (rx * u_down[0] + ry * u_down[1]) / face_len
    # Jaw: 0 above the mouth line, 1 from just below it down to the chin, fading under it and to the sides.
    jaw = 1.0 / (1.0 + np.exp(-(along - 0.02) / 0.05))
    jaw *= np.exp(-0.5 * (np.maximum(along - 0.8, 0.0) / 0.25) ** 2)
    upper_lip = np.exp(-0.5 * ((along + 0.1) / 0.07) ** 2)
    side = np.exp(-0.5 * (across / 0.85) ** 2)
    amount = strength * 0.16 * face_len * _mouth_opening(t)
    shift = amount * (jaw - 0.2 * upper_lip) * side
    # Backward map: the pixel at p shows what was at p - shift (shift is small and smooth).
    map_x = gx - shift * u_down[0]
    map_y = gy - shift * u_down[1]
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    warped = _rerender(warped, factor=0.7)

    m = _render_mask(outline, roi, sigma)[..., None]
    target = image[y0:y1, x0:x1].astype(np.float32)
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(target + (warped.astype(np.float32) - target) * m + 0.5, 0, 255).astype(np.uint8)
    return out


def _mouth_opening(t: float) -> float:
    """Mouth opening in [0, 1] at time t: syllables at ~3 Hz, louder and softer phrases at ~0.6 Hz."""
    syllables = 0.5 * (1.0 - math.cos(2 * math.pi * 3.1 * t))
    phrase = 0.65 + 0.35 * math.sin(2 * math.pi * 0.6 * t + 0.7)
    return syllables * phrase


def _rerender(image: np.ndarray, factor: float) -> np.ndarray:
    """Lose detail as a lower-resolution generator would: downsample by ``factor`` and back."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _neural_look(source: np.ndarray, box: Box, params: BlendParams) -> np.ndarray:
    """The source as a neural renderer would draw it: made at a lower resolution, its texture smoothed there,
    sampled back up, its colour slightly off. Returns float32 RGB in [0, 255], the source's shape."""
    h, w = source.shape[:2]
    f = params.neural_resample
    small = cv2.resize(source, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    # Smoothing at the low resolution, where the renderer works: the same look, a fraction of the cost.
    sigma = max(0.3, params.neural_smooth_sigma * max(box[2], box[3]) * f)
    if params.neural_smooth == "bilateral":
        small = cv2.bilateralFilter(small, -1, _BILATERAL_SIGMA_COLOUR, sigma)
    else:
        small = cv2.GaussianBlur(small, (0, 0), sigma)
    rendered = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return np.clip(rendered + np.asarray(params.neural_colour_shift, np.float32), 0.0, 255.0)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {getattr(image, 'shape', None)}")


def _check_box(box: Box) -> None:
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"the face box {tuple(box)} is empty")


def _keypoints_or_typical(box: Box, keypoints: Sequence[Point] | None) -> np.ndarray:
    """The keypoints as a (6, 2) float32 array; typical positions in the box when there are none."""
    if keypoints is not None and len(keypoints) >= 6:
        return np.asarray(keypoints[:6], np.float32)
    x, y, w, h = box
    return np.array([(x + fx * w, y + fy * h) for fx, fy in _TYPICAL_KEYPOINTS], np.float32)


def _keypoint_outline(kps: np.ndarray, grow: float) -> np.ndarray:
    """The face outline from the six keypoints: their hull, extended up to the brows and down to the chin.

    The six keypoints span only eyes to mouth and ear to ear; brow, chin and
    jaw points are extrapolated along the eye-to-mouth direction so the hull
    covers the whole face, as a 68-landmark hull would.
    """
    eye_mid = (kps[_EYE_R] + kps[_EYE_L]) / 2
    down = kps[_MOUTH] - eye_mid
    chin = kps[_MOUTH] + 0.7 * down
    # Tragions sit at the ear; the face's edge is a little inside them.
    ears = [kps[i] + 0.12 * (kps[_NOSE] - kps[i]) for i in (_EAR_R, _EAR_L)]
    extra = [
        kps[_EYE_R] - 0.6 * down, kps[_EYE_L] - 0.6 * down,  # brows and lower forehead
        chin,
        *(e + 0.55 * (chin - e) + 0.35 * down for e in ears),  # jaw corners
    ]
    points = np.vstack([kps[[_EYE_R, _EYE_L, _NOSE, _MOUTH]], np.array(ears), np.array(extra)]).astype(np.float32)
    hull = cv2.convexHull(points)[:, 0, :]
    centre = hull.mean(axis=0)
    return _resample_closed(centre + (hull - centre) * grow, _OUTLINE_POINTS)


def _ellipse_outline(box: Box, grow: float) -> np.ndarray:
    x, y, w, h = box
    # MediaPipe's box stops at about the brows; a slightly taller ellipse reaches the forehead and chin.
    a, b = 0.5 * w * grow, 0.56 * h * grow
    theta = np.linspace(0, 2 * np.pi, _OUTLINE_POINTS, endpoint=False, dtype=np.float32)
    return np.stack([x + w / 2 + a * np.cos(theta), y + h / 2 + b * np.sin(theta)], axis=1)


def _resample_closed(poly: np.ndarray, n: int) -> np.ndarray:
    """n points evenly spaced along a closed polygon's perimeter, so a wobble bends it smoothly everywhere."""
    closed = np.vstack([poly, poly[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.linspace(0.0, dist[-1], n, endpoint=False)
    return np.stack([np.interp(at, dist, closed[:, 0]), np.interp(at, dist, closed[:, 1])], axis=1).astype(np.float32)


def _blend_mask(
    shape: tuple[int, ...], box: Box, keypoints: Sequence[Point] | None, params: BlendParams,
    landmarks: np.ndarray | None,
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The soft mask of ``params`` over its ROI, at its peak ``blend_ratio``, with the ROI; None if off the image."""
    outline = _mask_outline(box, keypoints, params, landmarks)
    roi = _mask_roi(outline, box, params, shape)
    if roi is None:
        return None
    return roi, _render_mask(outline, roi, _blur_px(box, params)) * np.float32(params.blend_ratio)


def _mask_outline(box: Box, keypoints: Sequence[Point] | None, params: BlendParams,
                  landmarks: np.ndarray | None = None) -> np.ndarray:
    """The mask's outline in image pixels: the chosen shape, grown or shrunk, then wobbled by ``mask_seed``."""
    return _wobble(_base_outline(box, keypoints, params, landmarks), keypoints, params)


def _base_outline(box: Box, keypoints: Sequence[Point] | None, params: BlendParams,
                  landmarks: np.ndarray | None) -> np.ndarray:
    """The outline before its wobble: of the mesh when it has the points, else of the keypoints, else the box."""
    shape = params.mask_shape if params.region == "face" else params.region
    points = _mesh_outline_points(shape, landmarks)
    if points is not None:
        return _hull_outline(points, params.mask_grow)
    if params.region != "face":
        # A region needs the face's layout even without keypoints; the box's typical layout beats the box
        # ellipse, which would be the whole face, not the region.
        return _keypoint_region_outline(params.region, _keypoints_or_typical(box, keypoints), params.mask_grow)
    if shape in ("keypoints", "inner") and keypoints is not None and len(keypoints) >= 6:
        return _keypoint_outline(_keypoints_or_typical(box, keypoints), params.mask_grow)
    return _ellipse_outline(box, params.mask_grow)


def _mesh_outline_points(shape: str, landmarks: np.ndarray | None) -> np.ndarray | None:
    """The Face Mesh points whose hull outlines ``shape``; None for the ellipse or when the mesh can't give them."""
    if landmarks is None or shape == "ellipse":
        return None
    points = np.asarray(landmarks, np.float32)
    if shape == "keypoints":  # the whole mesh's hull: any point set outlines it
        return points if len(points) >= 3 else None
    if len(points) < _MESH_POINTS:  # the other shapes pick points by their mesh index
        return None
    if shape == "inner":
        return _inner_face_points(points)
    if shape == "mouth":
        return _mouth_jaw_points(points)
    return _eyes_points(points)


def _hull_outline(points: np.ndarray, grow: float) -> np.ndarray:
    """The points' convex hull, scaled about its centre by ``grow``, as evenly spaced outline vertices."""
    hull = cv2.convexHull(points)[:, 0, :]
    centre = hull.mean(axis=0)
    return _resample_closed(centre + (hull - centre) * grow, _OUTLINE_POINTS)


def _wobble(outline: np.ndarray, keypoints: Sequence[Point] | None, params: BlendParams) -> np.ndarray:
    """The outline with its radius scaled by a smooth random function of the angle, seeded by ``mask_seed``."""
    has_kps = keypoints is not None and len(keypoints) >= 6
    # Wobble: the radius from the centre is scaled by a random smooth function of
    # the angle (a few low harmonics). Angles are measured from the eye line, so
    # the same seed bends the same part of the face in every frame of a clip.
    rng = np.random.default_rng(params.mask_seed)
    harmonics = np.arange(2, 8)
    amp = rng.uniform(-1.0, 1.0, harmonics.size) / np.sqrt(harmonics - 1)
    phase = rng.uniform(0.0, 2 * np.pi, harmonics.size)
    amp *= params.mask_elastic / max(1.0, float(np.abs(amp).sum()))
    roll = 0.0
    if has_kps:
        (rx, ry), (lx, ly) = keypoints[_EYE_R], keypoints[_EYE_L]
        roll = math.atan2(ly - ry, lx - rx)
    centre = outline.mean(axis=0)
    rel = outline - centre
    angle = np.arctan2(rel[:, 1], rel[:, 0]) - roll
    radius_gain = 1.0 + (amp[None, :] * np.cos(harmonics[None, :] * angle[:, None] + phase[None, :])).sum(axis=1)
    return (centre + rel * radius_gain[:, None]).astype(np.float32)


def _inner_face_points(landmarks: np.ndarray) -> np.ndarray:
    """The Face Mesh points of the inner face: the brows, and the face outline from brow height down round the chin.

    "Down" is along the mesh's own chin-to-forehead axis, so a tilted or rolled face keeps its forehead out.
    """
    up = landmarks[_MESH_FOREHEAD_TOP] - landmarks[_MESH_CHIN]
    brows = landmarks[list(_MESH_BROWS)]
    oval = landmarks[list(_MESH_FACE_OVAL)]
    brow_level = float((brows @ up).mean())
    return np.vstack([brows, oval[oval @ up <= brow_level]])


def _mouth_jaw_points(landmarks: np.ndarray) -> np.ndarray:
    """The Face Mesh points of the mouth and jaw: the lips, and the face outline from the upper lip round the chin.

    What lip-sync re-renders: the mouth and everything the jaw moves, nothing from the nose up. "Down" is along
    the mesh's own chin-to-forehead axis, as for the inner face.
    """
    up = landmarks[_MESH_FOREHEAD_TOP] - landmarks[_MESH_CHIN]
    oval = landmarks[list(_MESH_FACE_OVAL)]
    lip_top = float(landmarks[_MESH_UPPER_LIP_TOP] @ up)
    return np.vstack([landmarks[list(_MESH_LIPS)], oval[oval @ up <= lip_top]])


def _eyes_points(landmarks: np.ndarray) -> np.ndarray:
    """The Face Mesh points of the eye region: the brows, and each eye's contour widened to its lids.

    Their hull is one band over both eyes and brows (the bridge of the nose between them included): one
    outline, wobbled and blurred as the others are.
    """
    lids = []
    for eye in (_MESH_RIGHT_EYE, _MESH_LEFT_EYE):
        contour = landmarks[list(eye)]
        centre = contour.mean(axis=0)
        lids.append(centre + (contour - centre) * np.float32(_EYE_LID_SCALE))
    return np.vstack([landmarks[list(_MESH_BROWS)], *lids])


def _keypoint_region_outline(region: str, kps: np.ndarray, grow: float) -> np.ndarray:
    """A region's outline from the six keypoints: the keypoint face outline for the inner face, else an ellipse
    set in the face's own frame (eye-to-mouth and eye-to-eye axes), so a tilted face tilts it too."""
    if region == "inner":
        return _keypoint_outline(kps, grow)  # it already stops at the brows
    eye_mid = (kps[_EYE_R] + kps[_EYE_L]) / 2
    down = kps[_MOUTH] - eye_mid
    across = kps[_EYE_L] - kps[_EYE_R]
    anchor, (along, half_down, half_across) = (
        (kps[_MOUTH], _KEYPOINT_MOUTH_ELLIPSE) if region == "mouth" else (eye_mid, _KEYPOINT_EYES_ELLIPSE))
    centre = anchor + along * down
    theta = np.linspace(0, 2 * np.pi, _OUTLINE_POINTS, endpoint=False, dtype=np.float32)
    a, b = half_down * grow * down, half_across * grow * across
    return (centre + np.cos(theta)[:, None] * a + np.sin(theta)[:, None] * b).astype(np.float32)


def _blur_px(box: Box, params: BlendParams) -> float:
    return params.mask_blur * max(box[2], box[3]) * _REGION_BLUR_SCALE[params.region]


def _mask_roi(
    outline: np.ndarray, box: Box, params: BlendParams | None, shape: tuple[int, ...], blur_px: float | None = None
) -> tuple[int, int, int, int] | None:
    """The image region (x0, y0, x1, y1) the blurred mask can reach, clipped to the image; None if empty."""
    sigma = blur_px if blur_px is not None else _blur_px(box, params)
    reach = 3.0 * sigma + 2.0
    h, w = shape[:2]
    x0 = max(0, int(math.floor(outline[:, 0].min() - reach)))
    y0 = max(0, int(math.floor(outline[:, 1].min() - reach)))
    x1 = min(w, int(math.ceil(outline[:, 0].max() + reach)) + 1)
    y1 = min(h, int(math.ceil(outline[:, 1].max() + reach)) + 1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _render_mask(outline: np.ndarray, roi: tuple[int, int, int, int], sigma_px: float) -> np.ndarray:
    """Fill the outline and blur its edge by ``sigma_px``, over ``roi``; float32 in [0, 1].

    Rendered at a reduced resolution where the blur is ~2 px, then upsampled:
    the result is smooth either way, and a wide blur costs far less small.
    """
    x0, y0, x1, y1 = roi
    rw, rh = x1 - x0, y1 - y0
    factor = max(1.0, sigma_px / _MASK_SIGMA_LOWRES)
    lw, lh = max(1, int(math.ceil(rw / factor))), max(1, int(math.ceil(rh / factor)))
    sx, sy = lw / rw, lh / rh
    # Pixel centres at integer coordinates at both resolutions; 4 fractional bits for sub-pixel vertices.
    pts = np.stack([(outline[:, 0] - x0 + 0.5) * sx - 0.5, (outline[:, 1] - y0 + 0.5) * sy - 0.5], axis=1)
    canvas = np.zeros((lh, lw), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    low = canvas.astype(np.float32) * np.float32(1.0 / 255.0)
    low_sigma = sigma_px * sx
    if low_sigma >= 0.3:
        low = cv2.GaussianBlur(low, (0, 0), low_sigma, borderType=cv2.BORDER_CONSTANT)
    if (lw, lh) != (rw, rh):
        low = cv2.resize(low, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return np.clip(low, 0.0, 1.0)


def _altered_source(image: np.ndarray, box: Box, roi: tuple[int, int, int, int], params: BlendParams) -> np.ndarray:
    """The altered copy of the face over ``roi``: colour-jittered, sharpened or blurred, then shifted/scaled/rotated."""
    x, y, bw, bh = box
    side = max(bw, bh)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = roi
    # Read a margin around the ROI so the shifted, scaled copy has real pixels to move in.
    pad = int(math.ceil(side * 0.12)) + 2
    sx0, sy0, sx1, sy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    region = image[sy0:sy1, sx0:sx1]

    # Colour: one 3x4 affine transform in RGB (hue rotation and saturation in YIQ, contrast, shifts).
    fx0, fy0, fx1, fy1 = max(x, sx0), max(y, sy0), min(x + bw, sx1), min(y + bh, sy1)
    face = image[fy0:fy1, fx0:fx1] if fx1 > fx0 and fy1 > fy0 else region
    mean = np.array(cv2.mean(face)[:3], np.float64)
    hue = _hue_saturation_matrix(params.hue_deg, params.saturation)
    lin = params.contrast * hue
    offset = (1.0 - params.contrast) * (hue @ mean) + params.brightness + np.asarray(params.rgb_shift)
    region = cv2.transform(region, np.hstack([lin, offset[:, None]]).astype(np.float32))

    if params.detail == "sharpen":
        blurred = cv2.GaussianBlur(region, (0, 0), max(0.6, 0.01 * side))
        region = cv2.addWeighted(region, 1.0 + params.detail_amount, blurred, -params.detail_amount, 0.0)
    elif params.detail == "blur":
        region = cv2.GaussianBlur(region, (0, 0), max(0.3, params.detail_amount * side))

    # Geometry: about the face centre, in image coordinates, mapped from region to ROI pixels.
    cx, cy = x + bw / 2.0, y + bh / 2.0
    a = math.radians(params.rotate_deg)
    lin_g = params.scale * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    shift = np.array([params.shift[0] * bw, params.shift[1] * bh])
    centre = np.array([cx, cy])
    trans = lin_g @ (np.array([sx0, sy0]) - centre) + centre + shift - np.array([x0, y0])
    matrix = np.hstack([lin_g, trans[:, None]])
    return cv2.warpAffine(region, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


# RGB <-> YIQ (NTSC): hue is the angle in the I-Q plane, saturation its radius.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def _hue_saturation_matrix(hue_deg: float, saturation: float) -> np.ndarray:
    a = math.radians(hue_deg)
    iq = saturation * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    yiq = np.eye(3)
    yiq[1:, 1:] = iq
    return _YIQ_TO_RGB @ yiq @ _RGB_TO_YIQ


__all__ = [
    "REGIONS", "BlendOptions", "BlendParams", "sample_blend_params", "face_mask", "apply_blend", "self_blend",
    "warp_face_region",
]
