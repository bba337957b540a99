"""Losing resolution: an image shrunk and brought back to its size, as a low-resolution camera or a re-upload does."""

from __future__ import annotations

import cv2
import numpy as np

MIN_SIDE = 8  # the shrunk image keeps at least this many pixels a side


def lose_resolution(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` (H, W, 3) shrunk to ``scale`` of its size (area averaging) and enlarged back (bilinear).

    Args:
        image: uint8 RGB.
        scale: in (0, 1]; 1 returns the image as it is.

    Returns:
        An image of the same size and type, with the detail finer than the shrunk size lost.
    """
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(MIN_SIDE, int(w * scale)), max(MIN_SIDE, int(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
