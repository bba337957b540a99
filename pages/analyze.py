"""Analyze: one clip in, the verdict, the per-frame timeline and Grad-CAM evidence out."""

from __future__ import annotations

import streamlit as st

from dfcore.synth.sample_verdicts import describe_sample
from ui.analysis import (LOADED_CLIP_KEY, ClipSource, analyse, prepare_ahead, prepare_other_layers, run_readably,
                         upload_problem)
from ui.common import frames_slider, sample_videos, supported_types, upload_limit_mb
from ui.keyboard import ANALYZE, RESULTS, UPLOAD, request_browser_action, shortcuts_help
from ui.models import require_detector
from ui.navigation import run_by_router
from ui.samples import SAMPLE_FRAMES, first_sample_index, sample_label, sample_verdicts
from ui.result_view import ResultView

REQUEST_KEY = "analyze_request"  # the source the user asked to analyse; the result follows the settings after
SOURCE_KIND_KEY = "analyze_source_kind"
SAMPLE, UPLOAD_KIND = "Sample video", "Upload"
# The uploader's file input: clicking it opens the browser's file chooser.
FILE_CHOOSER = ".st-key-analyze_upload [data-testid=stFileUploaderDropzoneInput]"


def _switch_to_upload() -> None:
    st.session_state[SOURCE_KIND_KEY] = UPLOAD_KIND


run_by_router()
title_col, help_col = st.columns([4, 1], vertical_alignment="bottom")
title_col.title("Deepfake Lens")
with help_col:
    shortcuts_help()
st.caption("Drop in a clip: the tracked face, a verdict (FAKE, UNCERTAIN or NO SIGN FOUND: evidence, not proof), "
           "per-frame fake scores and Grad-CAM evidence.")

detector = require_detector()

kind_col, upload_col = st.columns([4, 1], vertical_alignment="bottom")
source_kind = kind_col.radio("Video", [SAMPLE, UPLOAD_KIND], horizontal=True, key=SOURCE_KIND_KEY)
choose_file = upload_col.button("Upload a file", key="analyze_choose_file", type="tertiary",
                                icon=":material/upload_file:", shortcut=UPLOAD.keys, on_click=_switch_to_upload,
                                help="Switch to the uploader and open the file chooser.")
source: ClipSource | None = None
problem: str | None = None  # why the chosen file cannot be analysed, known on upload
if source_kind == UPLOAD_KIND:
    upload = st.file_uploader(
        "Video (mp4, avi, mov, mkv, webm) or image (jpg, png)", type=supported_types(), key="analyze_upload",
        help=f"Up to {upload_limit_mb()} MB per file; larger files are refused with a message. The file is kept in a "
             "private temporary folder only while it is decoded.")
    if choose_file:
        request_browser_action("click", FILE_CHOOSER)
    if upload is not None:
        source = ClipSource.from_upload(upload)
        # Checked on upload: a bad file is named now, and Analyze stays off for it. The message belongs
        # to this upload, so choosing another file (or none) takes it away. (A file the uploader refuses,
        # e.g. a .txt, does not replace the one chosen before: that one, and its message, stay.)
        problem = upload_problem(source)
        if problem:
            st.error(problem)
else:
    samples = sample_videos()
    if not samples:
        st.info("No sample videos found in sample_videos/. Make them with `make samples`, or upload a clip.")
    else:
        said = sample_verdicts(samples, detector)
        sample = st.selectbox("Sample", samples, index=first_sample_index(samples), key="analyze_sample",
                              format_func=lambda p: sample_label(p, said[p], detector.installed_name))
        source = ClipSource.from_path(sample)
        st.caption(f"This one is {describe_sample(sample.name) or 'not one of the generated samples'}. "
                   f"Synthetic demo clips made by `make samples` from a public-domain photo (see "
                   f"sample_videos/README.md); what {detector.installed_name} says about each is its analysis at "
                   f"{SAMPLE_FRAMES} frames, kept from the first time this model met the samples.")
n_frames = frames_slider("analyze")

run_col, view_col, _ = st.columns([1, 1, 4])
can_run = source is not None and problem is None
if run_col.button("Analyze", key="analyze_run", type="primary", disabled=not can_run, shortcut=ANALYZE.keys):
    st.session_state[REQUEST_KEY] = source.digest
requested = can_run and st.session_state.get(REQUEST_KEY) == source.digest
view_results = view_col.button("View results", key="analyze_view_results", disabled=not requested,
                               shortcut=RESULTS.keys, help="Scroll to the verdict.")

# Once asked for, the analysis follows the frame count and Grad-CAM settings, until another file is chosen.
if requested:
    st.session_state[LOADED_CLIP_KEY] = source  # the clip the Speed page times
    view = ResultView("analyze", shortcuts=True)
    result = run_readably(source.name, lambda: analyse(source, n_frames, detector, view.layer))
    if result is not None:
        view.show(result, source.name, source.digest)
        prepare_ahead(source, n_frames, detector, view.layer)
        prepare_other_layers(source, n_frames, detector, view.layer)
        if view_results:
            request_browser_action("scroll", f".st-key-{view.verdict_key}")
