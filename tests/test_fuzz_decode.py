"""Property test: whatever bytes arrive, sample_frames returns frames or raises a DfcoreError.

Uploads are arbitrary bytes with a name the user chose. Random bytes, and a
small valid MP4 with flipped bytes, cut short or with junk inserted, are fed to
``dfcore.media.video_io.sample_frames``: every call must end in frames of the promised
form or a typed ``DfcoreError`` (which the CLI and the dashboard print as one
line). Any other exception, or a call that takes more than a few seconds, is a
bug in dfcore. Bounded: 60 examples per property, no per-example deadline
(the machine is shared), a generous wall-clock check instead.
"""

from __future__ import annotations

import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfcore.errors import DfcoreError
from dfcore.media.video_io import sample_frames
from dfcore.media.video_writer import write_h264

MAX_SIDE = 64
SECONDS_PER_CALL = 10.0  # a valid 12-frame clip decodes in milliseconds; seconds mean a hang
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@lru_cache(maxsize=1)
def seed_mp4() -> bytes:
    """A small valid H.264 MP4 (12 frames, 64x48, faststart: the index is at the front)."""
    rng = np.random.default_rng(0)
    frames = [np.ascontiguousarray(np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), 8, 0), 8, 1))
              for _ in range(12)]
    with tempfile.TemporaryDirectory() as tmp:
        return write_h264(frames, Path(tmp) / "seed.mp4", fps=12).read_bytes()


def check_sample(data: bytes, suffix: str, n_frames: int) -> None:
    """The property: frames of the promised form, or a DfcoreError naming the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        t = time.monotonic()
        try:
            info, frames = sample_frames(path, n_frames, max_side=MAX_SIDE)
        except DfcoreError as e:
            assert e.path == str(path) and e.reason
            return
        finally:
            assert time.monotonic() - t < SECONDS_PER_CALL, "decoding took too long: a hang?"
        assert 1 <= len(frames) <= n_frames
        times = [f.time_s for f in frames]
        assert times == sorted(times)
        for f in frames:
            assert f.image.dtype == np.uint8 and f.image.ndim == 3 and f.image.shape[2] == 3
            assert 1 <= max(f.image.shape[:2]) <= MAX_SIDE
            assert f.index >= 0 and f.time_s >= 0


@st.composite
def mutated_mp4(draw: st.DrawFn) -> bytes:
    data = bytearray(seed_mp4())
    # Most structure (ftyp, moov: sizes, sample tables, timestamps) is in the first couple of KiB.
    offset = st.one_of(st.integers(0, min(2048, len(data) - 1)), st.integers(0, len(data) - 1))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        at = min(draw(offset), len(data) - 1)
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "truncate":
            del data[max(1, at):]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at : at + draw(st.integers(1, 64))]
        if len(data) < 2:
            break
    return bytes(data)


@FUZZ
@given(data=mutated_mp4(), n_frames=st.integers(1, 16))
def test_mutated_mp4_gives_frames_or_a_typed_error(data: bytes, n_frames: int) -> None:
    check_sample(data, ".mp4", n_frames)


@FUZZ
@given(data=st.binary(min_size=0, max_size=4096), suffix=st.sampled_from([".mp4", ".webm", ".avi", ".jpg"]),
       n_frames=st.integers(1, 16))
def test_random_bytes_give_a_typed_error(data: bytes, suffix: str, n_frames: int) -> None:
    check_sample(data, suffix, n_frames)


@FUZZ
@given(head=st.sampled_from([b"\x1aE\xdf\xa3", b"RIFF\x00\x00\x00\x00AVI LIST", b"\xff\xd8\xff\xe0",
                             b"\x00\x00\x00\x18ftypmp42", b"\x89PNG\r\n\x1a\n"]),
       tail=st.binary(max_size=2048), suffix=st.sampled_from([".mp4", ".webm", ".avi", ".jpg", ".png"]),
       n_frames=st.integers(1, 8))
def test_plausible_headers_with_junk_give_a_typed_error(head: bytes, tail: bytes, suffix: str, n_frames: int) -> None:
    # Random bytes rarely get past FFmpeg's probe; a real signature followed by junk does.
    check_sample(head + tail, suffix, n_frames)


def test_the_seed_itself_decodes() -> None:
    _, frames = sample_frames_of(seed_mp4())
    assert len(frames) == 12


def sample_frames_of(data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.mp4"
        path.write_bytes(data)
        return sample_frames(path, 12, max_side=MAX_SIDE)


def test_index_cut_before_the_codec_is_a_typed_error() -> None:
    # Found by the fuzzer: an MP4 cut right after its handler box opens with a video
    # stream that has no codec context; dfcore used to fail with AttributeError.
    data = seed_mp4()
    check_sample(data[: data.find(b"vide") + 4], ".mp4", 1)
