"""Speed vs accuracy: the model card's measured curves, and timings of the loaded clip on this machine."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

import dfcore
from dfcore.evaluate import DEFAULT_FRAME_COUNTS
from dfcore.figures import speed_accuracy_figure
from views.analysis import LOADED_CLIP_KEY, ClipSource, run_readably, time_frame_counts
from views.common import card_or_message, frames_slider, require_detector

MEASURED_KEY = "speed_measured"  # {clip digest: {frame count: seconds}} timed in this session

st.title("Speed vs accuracy")
st.caption("More frames per clip make the verdict steadier and the analysis slower. The curves are the model "
           "card's, measured by `make evaluate` on the validation split; nothing here is typed in.")

card = card_or_message()
n_frames = frames_slider("speed")
source: ClipSource | None = st.session_state.get(LOADED_CLIP_KEY)
measured: dict[int, float] | None = st.session_state.get(MEASURED_KEY, {}).get(source.digest) if source else None

if card is not None or measured:
    st.plotly_chart(speed_accuracy_figure(card or {}, n_frames, measured), width="stretch", key="speed_chart")
if card is not None:
    ev = card.get("evaluation", {})
    st.caption(f"Measured on {ev.get('machine', 'an unrecorded machine')} on {ev.get('date', 'an unrecorded date')}: "
               "seconds per video include decoding, face tracking and the model, not Grad-CAM. The dashed line "
               "is the frame count set on the Analyze page.")
    rows = card.get("metrics", {}).get("ffpp_c23_val", {}).get("by_frames", {})
    if rows:
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "frames"
        with st.expander("The card's numbers"):
            st.dataframe(table, width="stretch")

st.subheader("Time the loaded clip")
if source is None:
    st.info("No clip loaded yet: analyse one on the Analyze or Webcam page, then come back to time it here.")
else:
    counts = list(DEFAULT_FRAME_COUNTS)
    st.write(f"Loaded: **{source.name}**. Times a fresh analysis (no caches, no Grad-CAM) at {counts} frames on "
             "this machine, now.")
    if st.button("Time every frame count", type="primary", key="speed_time"):
        detector = require_detector()
        bar = st.progress(0.0, text="Starting…")

        def progress(done: int, n: int) -> None:
            bar.progress(done / len(counts), text=f"Timing {n} frames ({done + 1}/{len(counts)})…")

        timed = run_readably(source.name, lambda: time_frame_counts(source, counts, detector, progress))
        bar.empty()
        if timed is not None:
            st.session_state.setdefault(MEASURED_KEY, {})[source.digest] = timed
            st.rerun()  # redraw the chart above with the new series
    if measured:
        st.dataframe(pd.DataFrame({"frames": list(measured), "seconds": [round(v, 3) for v in measured.values()]}),
                     hide_index=True)
        st.caption(f"Measured with dfcore {dfcore.__version__}, torch using {torch.get_num_threads()} CPU "
                   "thread(s), on a machine shared with whatever else runs here.")
