"""Shared fixtures for the detection-core tests.

Every input is generated here, into pytest's temporary folders: the synthetic
astronaut clips come from the project's own ``dfcore.synth.samples`` (the same code
that makes the shipped sample videos), the broken files are made by hand, and
the checkpoint is a *randomly initialised, untrained* model. That model is
used only to test plumbing (shapes, files, schemas, hooks); no test reads its
verdicts as evidence of detection quality.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import torch

# A training job shares this 2-core machine: keep every test to one thread.
torch.set_num_threads(1)
os.environ.setdefault("GLOG_minloglevel", "2")

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dfcore.models.checkpoint import save_checkpoint  # noqa: E402
from dfcore.models.model import create_model  # noqa: E402
from dfcore.vision.preprocessing import PreprocessConfig  # noqa: E402
from dfcore.synth.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, WARP_CLIP, SampleOptions, generate_samples  # noqa: E402
from dfcore.media.video_writer import write_h264  # noqa: E402

# The dashboard's fixtures (ui_fixtures.py), one set for every test module: a session fixture that
# modules import themselves is made once per module (and two Playwright instances cannot run at once).
pytest_plugins = ["ui_fixtures"]

SAMPLE_OPTIONS = SampleOptions(duration_s=2.0, fps=15, size=(320, 240))
SAMPLE_FRAMES = 30  # 2.0 s x 15 fps
MODEL_NAME = "resnext_compact_lstm"

# VFR clip: frame presentation times in milliseconds, with deliberately uneven gaps
# (a burst at 60 fps, a stall of 400 ms, then 20 fps). 2.0 s long overall.
VFR_PTS_MS = [0, 17, 33, 50, 67, 83, 100, 500, 550, 600, 650, 700, 900, 1100, 1150, 1200,
              1250, 1300, 1350, 1400, 1450, 1500, 1550, 1600, 1650, 1700, 1750, 1800, 1850, 1900]


@pytest.fixture(scope="session", autouse=True)
def onnx_graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Exported ONNX graphs go to a folder of this session (and the CLI's subprocesses), not the user's cache."""
    path = tmp_path_factory.mktemp("dfcore_cache")
    before = os.environ.get("DFCORE_CACHE_DIR")
    os.environ["DFCORE_CACHE_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("DFCORE_CACHE_DIR", None)
    else:
        os.environ["DFCORE_CACHE_DIR"] = before


# --------------------------------------------------------------------------- synthetic clips


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic samples (real clip, two fake clips, a still), small and short."""
    out = tmp_path_factory.mktemp("samples")
    paths = generate_samples(out, SAMPLE_OPTIONS)
    assert [p.name for p in paths] == [REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP, REAL_STILL]
    return out


@pytest.fixture(scope="session")
def face_video(sample_dir: Path) -> Path:
    """2 s, 15 fps, 320x240 H.264 clip of the (unmanipulated) astronaut face."""
    return sample_dir / REAL_CLIP


@pytest.fixture(scope="session")
def fake_videos(sample_dir: Path) -> list[Path]:
    """The two manipulated versions of ``face_video`` (self-blend and warp)."""
    return [sample_dir / SELFBLEND_CLIP, sample_dir / WARP_CLIP]


@pytest.fixture(scope="session")
def face_image(sample_dir: Path) -> Path:
    """A JPEG still of the astronaut face (the real clip's middle frame)."""
    return sample_dir / REAL_STILL


@pytest.fixture(scope="session")
def face_frame(face_image: Path) -> np.ndarray:
    """The face still as an (H, W, 3) uint8 RGB array."""
    return cv2.cvtColor(cv2.imread(str(face_image)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def blank_frame() -> np.ndarray:
    """A smooth grey gradient, 320x240: nothing face-like in it."""
    ramp = np.linspace(90, 170, 320, dtype=np.float32)
    img = np.repeat(ramp[None, :], 240, axis=0)
    return np.repeat(img[:, :, None], 3, axis=2).astype(np.uint8)


@pytest.fixture(scope="session")
def blank_video(tmp_path_factory: pytest.TempPathFactory, blank_frame: np.ndarray) -> Path:
    """2 s, 15 fps clip of a smooth grey gradient: no face anywhere."""
    path = tmp_path_factory.mktemp("blank") / "blank.mp4"
    return write_h264((blank_frame for _ in range(SAMPLE_FRAMES)), path, fps=15)


@pytest.fixture(scope="session")
def one_frame_video(tmp_path_factory: pytest.TempPathFactory, face_frame: np.ndarray) -> Path:
    """An H.264 clip with exactly one frame: the face still."""
    path = tmp_path_factory.mktemp("one_frame") / "one_frame.mp4"
    return write_h264([face_frame], path, fps=15)


@pytest.fixture(scope="session")
def vfr_video(tmp_path_factory: pytest.TempPathFactory, face_frame: np.ndarray) -> Path:
    """A variable-frame-rate MP4 (time base 1/1000, uneven gaps between frames; see VFR_PTS_MS)."""
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    h, w = face_frame.shape[0] // 2 * 2, face_frame.shape[1] // 2 * 2
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        for i, pts in enumerate(VFR_PTS_MS):
            # Brightness changes with time, so each decoded frame is recognisably different.
            img = np.clip(face_frame[:h, :w].astype(np.int16) + (i - 15) * 2, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="session")
def audio_only_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .mp4 holding one AAC audio stream (1 s of a 440 Hz tone) and no video."""
    try:
        av.codec.Codec("aac", "w")
    except Exception:  # noqa: BLE001 - any failure means this FFmpeg build has no AAC encoder
        pytest.skip("PyAV's FFmpeg has no AAC encoder")
    path = tmp_path_factory.mktemp("audio") / "audio_only.mp4"
    rate = 44100
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        t = np.arange(rate) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        chunk = 1024
        for i in range(0, rate, chunk):
            part = samples[i : i + chunk]
            frame = av.AudioFrame.from_ndarray(part[None, :], format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# --------------------------------------------------------------------------- broken inputs


@pytest.fixture(scope="session")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad")


@pytest.fixture(scope="session")
def corrupt_video(bad_dir: Path) -> Path:
    """64 KiB of random bytes named .mp4."""
    path = bad_dir / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def truncated_video(bad_dir: Path, face_video: Path) -> Path:
    """The face clip cut to the first half of its bytes (faststart: the index survives, data does not)."""
    data = face_video.read_bytes()
    path = bad_dir / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def empty_video(bad_dir: Path) -> Path:
    path = bad_dir / "empty.mp4"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def text_as_mov(bad_dir: Path) -> Path:
    path = bad_dir / "notes.mov"
    path.write_text("This is a text file, not a QuickTime movie.\n" * 20)
    return path


@pytest.fixture(scope="session")
def unsupported_file(bad_dir: Path) -> Path:
    path = bad_dir / "clip.gif"
    path.write_bytes(b"GIF89a" + bytes(64))
    return path


# --------------------------------------------------------------------------- model


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An UNTRAINED (randomly initialised) resnext_compact_lstm checkpoint with its SHA256SUMS.

    Only for plumbing tests: its scores mean nothing.
    """
    torch.manual_seed(0)
    model = create_model(MODEL_NAME).eval()
    path = tmp_path_factory.mktemp("weights") / "model.pt"
    save_checkpoint(path, model, MODEL_NAME, PreprocessConfig())
    return path


@pytest.fixture(scope="session")
def detector(checkpoint: Path):
    """The untrained checkpoint loaded as a Detector on the CPU (plumbing only)."""
    from dfcore import load_detector

    return load_detector(checkpoint, device="cpu")


@pytest.fixture(scope="session")
def random_crops() -> np.ndarray:
    """Six random 112x112 uint8 RGB 'face crops' (smooth noise, so Grad-CAM has structure to see)."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (6, 14, 14, 3), dtype=np.uint8)
    return np.stack([cv2.resize(c, (112, 112), interpolation=cv2.INTER_CUBIC) for c in small])
