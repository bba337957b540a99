"""Analyze: one clip in, the verdict, the per-frame timeline and Grad-CAM evidence out."""

from __future__ import annotations

import streamlit as st

from views.analysis import LOADED_CLIP_KEY, ClipSource, analyse, run_readably
from views.common import frames_slider, require_detector, sample_videos, supported_types, upload_limit_mb
from views.result_view import ResultView

REQUEST_KEY = "analyze_request"  # the source the user asked to analyse; the result follows the settings after

st.title("Deepfake Lens")
st.caption("Drop in a clip: the tracked face, a REAL / FAKE verdict, per-frame confidence and Grad-CAM evidence.")

detector = require_detector()

source_kind = st.radio("Video", ["Sample video", "Upload"], horizontal=True, key="analyze_source_kind")
source: ClipSource | None = None
if source_kind == "Upload":
    upload = st.file_uploader(
        "Video (mp4, avi, mov, mkv, webm) or image (jpg, png)", type=supported_types(), key="analyze_upload",
        help=f"Up to {upload_limit_mb()} MB per file; larger files are refused with a message. The file is kept in a "
             "private temporary folder only while it is decoded.")
    if upload is not None:
        source = ClipSource.from_upload(upload)
else:
    samples = sample_videos()
    if not samples:
        st.info("No sample videos found in sample_videos/. Make them with `make samples`, or upload a clip.")
    else:
        sample = st.selectbox("Sample", samples, format_func=lambda p: p.name, key="analyze_sample")
        source = ClipSource.from_path(sample)
        st.caption("Synthetic demo clips made by `make samples` from a public-domain photo; see sample_videos/README.md.")
n_frames = frames_slider("analyze")

if st.button("Analyze", type="primary", disabled=source is None):
    st.session_state[REQUEST_KEY] = source.digest

# Once asked for, the analysis follows the frame count and Grad-CAM settings, until another file is chosen.
if source is not None and st.session_state.get(REQUEST_KEY) == source.digest:
    st.session_state[LOADED_CLIP_KEY] = source  # the clip the Speed page times
    view = ResultView("analyze")
    result = run_readably(source.name, lambda: analyse(source, n_frames, detector, view.layer))
    if result is not None:
        view.show(result, source.name, source.digest)
