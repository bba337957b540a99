"""What the pages share besides the models (ui/models.py): the frame-count setting, the samples and the upload rule."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

import dfcore
import dfcore.media.video_io  # noqa: F401  (its extension list, below; dfcore imports it lazily)
from dfcore.serving.upload import safe_name  # the API names its uploads by the same rule

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_videos"

# The frame counts the model card measures; the slider reaches every one of them.
MIN_FRAMES, MAX_FRAMES, FRAMES_STEP, DEFAULT_FRAMES = 10, 100, 10, 20
N_FRAMES_KEY = "n_frames"  # session-wide: the Analyze, Webcam, Batch and Speed pages share one setting


def frames_slider(where: str) -> int:
    """The frames-to-analyse slider; its value is shared by every page of this session.

    Args:
        where: the page it is on (widget keys must be unique per page).
    """
    st.session_state.setdefault(N_FRAMES_KEY, DEFAULT_FRAMES)
    key = f"{N_FRAMES_KEY}_{where}"
    # Streamlit forgets a widget's value when its page is left: start it from the shared setting.
    if key not in st.session_state:
        st.session_state[key] = st.session_state[N_FRAMES_KEY]
    n = st.slider("Frames to analyse", MIN_FRAMES, MAX_FRAMES, step=FRAMES_STEP, key=key,
                  help="Frames sampled evenly over the whole clip. More frames: steadier verdicts, slower "
                       "analysis (see the Speed vs accuracy page).")
    st.session_state[N_FRAMES_KEY] = n
    return n


def upload_limit_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))


def sample_videos() -> list[Path]:
    return sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in dfcore.media.video_io.SUPPORTED_EXTENSIONS)


def supported_types() -> list[str]:
    return sorted(e.lstrip(".") for e in dfcore.media.video_io.SUPPORTED_EXTENSIONS)


@contextmanager
def temp_copy(name: str, data: bytes | memoryview) -> Iterator[Path]:
    """Write bytes to a private temporary folder under a sanitised name; the folder is deleted afterwards,
    also on errors."""
    with tempfile.TemporaryDirectory(prefix="dflens-") as tmp:  # mode 0700: other users cannot read it
        path = Path(tmp) / safe_name(name)
        path.write_bytes(data)
        yield path


@contextmanager
def uploaded_file(upload: UploadedFile) -> Iterator[Path]:
    """Write an upload to a private temporary folder; the folder is deleted afterwards, also on errors."""
    with temp_copy(upload.name, upload.getbuffer()) as path:
        yield path
