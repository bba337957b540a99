"""Webcam: record a short clip (or take a snapshot) in the browser and analyse it like any upload."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from ui.analysis import LOADED_CLIP_KEY, ClipSource, analyse, prepare_ahead, prepare_other_layers, run_readably
from ui.common import frames_slider
from ui.models import require_detector
from ui.navigation import run_by_router
from ui.result_view import ResultView
from ui.webcam_recorder import MAX_SECONDS, MIN_SECONDS, NoCameraError, RecordingError, record_clip

CLIP_KEY = "webcam_clip"  # the last recording, as a ClipSource, kept while the user explores its analysis

run_by_router()
st.title("Webcam")
st.caption("Record a few seconds of yourself, or take a snapshot, and see what the detector makes of it. The clip "
           "stays in this session's memory and is written to disk only while it is decoded.")

detector = require_detector()

clip_tab, snapshot_tab = st.tabs(["Record a clip", "Snapshot"])

with clip_tab:
    left, right = st.columns([1, 1])
    with right:
        seconds = st.slider("Clip length (seconds)", MIN_SECONDS, MAX_SECONDS, 5, key="webcam_seconds")
        n_frames = frames_slider("webcam")
        st.caption("Press Record, look at the camera, and wait for the countdown. The analysis starts by itself.")
    with left:
        try:
            recording = record_clip(seconds, key="webcam_recorder")
        except NoCameraError as e:
            # Not an error of the app: one plain sentence, and the browser's own words in small print.
            recording = None
            st.info(NoCameraError.SENTENCE, icon=":material/videocam_off:")
            st.caption(f"The browser said: {e.reason}. Reload the page once a camera is connected or allowed.")
        except RecordingError as e:
            recording = None
            st.error(str(e))
    if recording is not None:
        name = f"webcam-{dt.datetime.now():%Y%m%d-%H%M%S}{recording.suffix}"
        st.session_state[CLIP_KEY] = ClipSource.from_bytes(name, recording.data)
    source: ClipSource | None = st.session_state.get(CLIP_KEY)
    if source is not None:
        st.session_state[LOADED_CLIP_KEY] = source  # the clip the Speed page times
        view = ResultView("webcam")
        result = run_readably(source.name, lambda: analyse(source, n_frames, detector, view.layer))
        if result is not None:
            view.show(result, source.name, source.digest)
            prepare_ahead(source, n_frames, detector, view.layer)
            prepare_other_layers(source, n_frames, detector, view.layer)

with snapshot_tab:
    shot = st.camera_input("Take a snapshot", key="webcam_snapshot",
                           help="One still frame, analysed as a one-frame clip.")
    if shot is not None:
        source = ClipSource.from_upload(shot)
        view = ResultView("snapshot")
        result = run_readably("snapshot", lambda: analyse(source, 1, detector, view.layer))
        if result is not None:
            view.show(result, "webcam snapshot", source.digest)
