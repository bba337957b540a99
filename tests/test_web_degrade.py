"""dfcore.synth.web_degrade: real footage degraded as re-uploads and dim webcams, through a real H.264 codec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfcore.media.video_io import probe_video, sample_frames
from dfcore.synth.web_degrade import WEB_DEGRADATIONS, WebDegradation, degrade_frame, h264_roundtrip, write_degraded_clip


def _detail(img: np.ndarray) -> float:
    """Mean absolute horizontal gradient: what downscaling and a low bitrate take away."""
    g = img.astype(float).mean(axis=2)
    return float(np.abs(np.diff(g, axis=1)).mean())


def test_h264_roundtrip_keeps_the_frames_and_costs_detail() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(6)]
    out = h264_roundtrip(frames, crf=40)
    assert len(out) == 6 and out[0].shape == (64, 96, 3) and out[0].dtype == np.uint8
    assert _detail(out[0]) < 0.8 * _detail(frames[0])  # noise does not survive a low-bitrate codec


def test_a_dim_webcam_is_darker_and_noisier(face_frame: np.ndarray) -> None:
    dim = next(d for d in WEB_DEGRADATIONS if d.gain < 1)
    out = degrade_frame(face_frame, dim, np.random.default_rng(0))
    assert out.shape == face_frame.shape and out.mean() < 0.7 * face_frame.mean()
    plain = WebDegradation("none", scale=1.0, crf=23, gain=1.0, noise_sigma=0.0)
    assert np.array_equal(degrade_frame(face_frame, plain, np.random.default_rng(0)), face_frame)


@pytest.mark.parametrize("d", WEB_DEGRADATIONS, ids=lambda d: d.name)
def test_a_degraded_copy_is_a_playable_small_h264_clip(d: WebDegradation, face_video: Path,
                                                              tmp_path: Path) -> None:
    dst = write_degraded_clip(face_video, tmp_path / "copy" / f"clip.{d.name}.mp4", d, seed=0, max_side=160,
                              max_seconds=1.0)
    assert dst.is_file() and not list(dst.parent.glob("*.part.mp4"))  # no part file left behind
    info = probe_video(dst)
    assert info.codec == "h264" and max(info.width, info.height) <= 160 and info.frame_count > 1
    _, frames = sample_frames(dst, 3)
    assert len(frames) == 3
