"""Decompression bombs: an image or a clip whose header promises more pixels than a decoder should hold.

The reproductions of issue 30 (item 2): a 0.86 MB one-colour 16-bit PNG of 12000x12000 used to add
4.5 GB to the process and ignore the time limit for 13 s; it is now refused from its header. Images in
the budget decode 16-bit straight to 8-bit (no float copy), JPEGs reduced where that loses nothing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from attack_media import write_flat_png, write_flat_h264
from dfcore.deadline import Deadline
from dfcore.errors import AnalysisTimeoutError, TooManyPixelsError, VideoDecodeError
from dfcore.media import video_io
from dfcore.media.image_header import image_size
from dfcore.media.video_io import MAX_PIXELS, probe_video, sample_frames

PEAK_BUDGET_MB = 2048  # issue 30: any single input costs at most 2 GB above the loaded model


def _peak_rss_mb(path: Path) -> tuple[str, float]:
    """Sample one frame of ``path`` in a fresh process: its outcome and the RSS it added (MB)."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest, with torch loaded).
    code = textwrap.dedent(f"""
        import re
        from dfcore.media.video_io import sample_frames
        def hwm_kb():
            with open("/proc/self/status") as f:
                return int(re.search(r"VmHWM:\\s+(\\d+)", f.read()).group(1))
        base = hwm_kb()
        try:
            sample_frames({str(path)!r}, 1)
            outcome = "decoded"
        except Exception as e:
            outcome = type(e).__name__
        print(outcome, (hwm_kb() - base) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    outcome, mb = out.stdout.split()[-2:]
    return outcome, float(mb)


def test_header_sizes(tmp_path: Path) -> None:
    img = np.zeros((30, 70, 3), np.uint8)
    for ext in (".png", ".jpg"):
        ok, buf = cv2.imencode(ext, img)
        assert ok and image_size(buf.tobytes()) == (70, 30)
    progressive = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1]
    assert image_size(progressive.tobytes()) == (70, 30)
    assert image_size(b"GIF89a" + bytes(40)) is None
    assert image_size(b"\xff\xd8\xff\xda\x00\x02") is None  # a scan before any frame header
    assert image_size(b"\x89PNG\r\n\x1a\n") is None  # cut off before IHDR


def test_16_bit_png_is_shifted_to_8_bit(tmp_path: Path) -> None:
    path = write_flat_png(tmp_path / "p16.png", 64, 48, value=40000)
    _, frames = sample_frames(path, 1)
    img = frames[0].image
    assert img.dtype == np.uint8 and img.shape == (48, 64, 3)
    assert (img == 40000 >> 8).all()


def test_png_over_the_pixel_budget_is_refused_from_its_header(tmp_path: Path, monkeypatch) -> None:
    path = write_flat_png(tmp_path / "wide.png", 400, 300, value=200, bit_depth=8)
    monkeypatch.setattr(video_io, "MAX_PIXELS", 400 * 300 - 1)
    decoded = []
    monkeypatch.setattr(video_io.cv2, "imdecode", lambda *a: decoded.append(a))
    for read in (lambda: sample_frames(path, 1), lambda: probe_video(path)):
        with pytest.raises(TooManyPixelsError, match=r"400x300 pixels, over the limit") as e:
            read()
        assert isinstance(e.value, VideoDecodeError)  # every caller's 422 / exit 2
    assert decoded == []  # refused before decoding


def test_jpeg_is_decoded_reduced_within_the_budget(tmp_path: Path, monkeypatch) -> None:
    img = np.full((1200, 1600, 3), 90, np.uint8)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), img)
    # 1.92 MP stored; read at 1/4 for a 400 px frame, it decodes to 0.12 MP, inside a 0.5 MP budget.
    monkeypatch.setattr(video_io, "MAX_PIXELS", 500_000)
    info, frames = sample_frames(path, 1, max_side=400)
    assert frames[0].image.shape == (300, 400, 3)
    assert probe_video(path).width == 1600  # the stored size, not the reduced one
    with pytest.raises(TooManyPixelsError):
        sample_frames(path, 1, max_side=1280)  # no reduction keeps 1280 px: over the budget


def test_reduced_jpeg_keeps_the_analysed_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), (3200, 2400), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    _, frames = sample_frames(path, 1)  # reduced by 2 (1600 px) then downscaled to 1280
    full = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (1280, 960), interpolation=cv2.INTER_AREA)
    assert frames[0].image.shape == full.shape
    assert np.abs(frames[0].image.astype(int) - full).mean() < 3


def test_time_limit_is_checked_before_decoding_an_image(tmp_path: Path, monkeypatch) -> None:
    path = write_flat_png(tmp_path / "p.png", 64, 64)
    monkeypatch.setattr(video_io.cv2, "imdecode", lambda *a: pytest.fail("decoded after the deadline"))
    with pytest.raises(AnalysisTimeoutError):
        sample_frames(path, 1, deadline=Deadline(str(path), 1.0, started=0.0))


def test_video_frame_over_the_budget_is_refused(face_video: Path, monkeypatch) -> None:
    monkeypatch.setattr(video_io, "MAX_PIXELS", 100 * 100)
    with pytest.raises(TooManyPixelsError, match="per frame"):
        sample_frames(face_video, 4)
    with pytest.raises(TooManyPixelsError):
        probe_video(face_video)


@pytest.mark.slow
def test_16_bit_png_bomb_memory(tmp_path: Path) -> None:
    """The issue's 12000x12000 16-bit PNG (0.86 MB): refused, at almost no memory; one just inside the
    budget decodes within 2 GB."""
    bomb = write_flat_png(tmp_path / "p16.png", 12000, 12000)
    assert bomb.stat().st_size < 1_000_000
    outcome, mb = _peak_rss_mb(bomb)
    print(f"\n12000x12000 16-bit PNG ({bomb.stat().st_size / 1e6:.2f} MB): {outcome}, peak RSS +{mb:.0f} MB")
    assert outcome == "TooManyPixelsError" and mb < 200
    side = int(MAX_PIXELS ** 0.5)
    inside = write_flat_png(tmp_path / "inside.png", side, side)
    outcome, mb = _peak_rss_mb(inside)
    print(f"{side}x{side} 16-bit PNG: {outcome}, peak RSS +{mb:.0f} MB (budget {PEAK_BUDGET_MB} MB)")
    assert outcome == "decoded" and mb < PEAK_BUDGET_MB


@pytest.mark.slow
def test_16000_square_h264_clip_is_refused(tmp_path: Path) -> None:
    clip = write_flat_h264(tmp_path / "big.mp4", 16000, 16000)
    outcome, mb = _peak_rss_mb(clip)
    print(f"\n16000x16000 H.264 clip ({clip.stat().st_size / 1e6:.2f} MB): {outcome}, peak RSS +{mb:.0f} MB")
    assert outcome == "TooManyPixelsError" and mb < PEAK_BUDGET_MB


def test_cli_refuses_a_bomb_with_one_line_and_exit_2(tmp_path: Path, checkpoint: Path, monkeypatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    from dfcore.cli import EXIT_INPUT_ERROR, main

    path = write_flat_png(tmp_path / "bomb.png", 400, 300)
    monkeypatch.setattr(video_io, "MAX_PIXELS", 1000)
    assert main(["analyze", str(path), "--weights", str(checkpoint), "--threads", "1"]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: the image is 400x300 pixels, over the limit")
    assert len(err.splitlines()) == 1


def test_a_frame_larger_than_its_header_says_is_refused(face_video: Path, monkeypatch) -> None:
    """The container's declared size is not trusted: each decoded frame is checked too."""
    from dataclasses import replace

    declared = video_io._describe

    def lying_header(p, container, stream):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(video_io, "MAX_PIXELS", 10 ** 9)
            return replace(declared(p, container, stream), width=16, height=16)

    monkeypatch.setattr(video_io, "_describe", lying_header)
    monkeypatch.setattr(video_io, "MAX_PIXELS", 100 * 100)
    with pytest.raises(TooManyPixelsError, match="a decoded frame is 320x240 pixels"):
        sample_frames(face_video, 4)
