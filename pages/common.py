"""What every page shares: the cached detector and the upload-to-temp-file rule."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

import dfcore
from dfcore.detector import Detector

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "sample_videos"


@st.cache_resource(show_spinner="Loading the detector…")
def get_detector() -> Detector:
    """Loaded once per server process and shared by all sessions (scoring never mutates it)."""
    return dfcore.load_detector()


def sample_videos() -> list[Path]:
    return sorted(p for p in SAMPLES_DIR.glob("*") if p.suffix.lower() in dfcore.video_io.SUPPORTED_EXTENSIONS)


def safe_name(name: str) -> str:
    """A file name with no directories and only harmless characters; the extension is kept."""
    base = Path(name.replace("\\", "/")).name
    stem, ext = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "upload"
    return stem[:80] + re.sub(r"[^a-z0-9.]", "", ext)


@contextmanager
def uploaded_file(upload: "st.runtime.uploaded_file_manager.UploadedFile") -> Iterator[Path]:
    """Write an upload to a private temporary folder; the folder is deleted afterwards, also on errors."""
    with tempfile.TemporaryDirectory(prefix="dflens-") as tmp:
        path = Path(tmp) / safe_name(upload.name)
        path.write_bytes(upload.getbuffer())
        yield path
