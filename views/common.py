"""What every page shares: the cached detector, the model card, the frame-count setting and the upload rule."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

import dfcore
from dfcore.detector import Detector, default_weights_path

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_videos"
CARD_NAME = "model_card.json"  # written by `make evaluate` beside the weights file it describes

# The frame counts the model card measures; the slider reaches every one of them.
MIN_FRAMES, MAX_FRAMES, FRAMES_STEP, DEFAULT_FRAMES = 10, 100, 10, 20
N_FRAMES_KEY = "n_frames"  # session-wide: the Analyze, Webcam, Batch and Speed pages share one setting

TRAIN_HINT = "Train the detector with `make train`, then build its model card with `make evaluate`."


def get_detector() -> Detector:
    """The installed detector, loaded once per weights file and shared by all sessions.

    Raises:
        NoWeightsInstalledError, WeightsError: no usable weights (show ``e.message``).
    """
    path = default_weights_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _load_detector(str(path), mtime)


# Keyed by the weights path and its modification time: weights that land (or are
# retrained) while the app runs are picked up without a restart. Failures are not cached.
@st.cache_resource(show_spinner="Loading the detector…", max_entries=2)
def _load_detector(path: str, mtime_ns: int) -> Detector:
    return dfcore.load_detector()


def require_detector() -> Detector:
    """The detector, or a readable error and the end of this page's run."""
    try:
        return get_detector()
    except dfcore.DfcoreError as e:
        st.error(e.message)
        st.info(TRAIN_HINT + " To use another checkpoint, start the app with `DFCORE_WEIGHTS=/path/to/file.pt`.")
        st.stop()


def card_path() -> Path:
    """The model card sits beside the weights file it describes (also when DFCORE_WEIGHTS moves them)."""
    return default_weights_path().parent / CARD_NAME


class CardError(Exception):
    """The model card file exists but cannot be read as the card JSON."""


def load_card() -> dict | None:
    """The model card as a dict; None when there is none yet.

    Raises:
        CardError: the file is not valid JSON.
    """
    path = card_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read_card(str(path), mtime)


@st.cache_data(show_spinner=False, max_entries=4)
def _read_card(path: str, mtime_ns: int) -> dict:
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CardError(f"{path}: the model card could not be read ({e}). Rebuild it with `make evaluate`.") from None
    if not isinstance(card, dict):
        raise CardError(f"{path}: the model card is not a JSON object. Rebuild it with `make evaluate`.")
    return card


def card_or_message() -> dict | None:
    """The model card, or None after telling the user plainly why there is none."""
    try:
        card = load_card()
    except CardError as e:
        st.error(str(e))
        return None
    if card is None:
        st.info(f"No model card yet: `{card_path()}` does not exist. The card's numbers are measured, never typed "
                f"in. {TRAIN_HINT}")
    return card


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
    return sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in dfcore.video_io.SUPPORTED_EXTENSIONS)


def supported_types() -> list[str]:
    return sorted(e.lstrip(".") for e in dfcore.video_io.SUPPORTED_EXTENSIONS)


def safe_name(name: str) -> str:
    """A file name with no directories and only harmless characters; the extension is kept."""
    base = Path(name.replace("\\", "/")).name
    stem, ext = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "upload"
    return stem[:80] + re.sub(r"[^a-z0-9.]", "", ext)


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
