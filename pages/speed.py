"""Speed vs accuracy: every installed model's measured curves, and timings of the loaded clip on this machine."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

import dfcore
from dfcore.evaluation.evaluate import DEFAULT_FRAME_COUNTS
from dfcore.reporting.figures import speed_accuracy_figure
from ui.analysis import LOADED_CLIP_KEY, ClipSource, run_readably, time_frame_counts
from ui.common import frames_slider
from ui.models import TRAIN_HINT, card_or_message, installed_models, label, require_detector, selected_model
from ui.navigation import run_by_router

MEASURED_KEY = "speed_measured"  # {(clip digest, model name): {frame count: seconds}} timed in this session


def installed_cards() -> dict[str, dict]:
    """Each installed model's card by model name, saying so for any model without a readable card."""
    try:
        models = installed_models()
    except dfcore.DfcoreError as e:
        st.error(e.message)
        return {}
    if not models:
        st.info(f"No model is installed. {TRAIN_HINT}")
    cards = {}
    for entry in models:
        card = card_or_message(entry)
        if card is not None:
            cards[label(entry)] = card
    return cards


run_by_router()
st.title("Speed vs accuracy")
st.caption("More frames per clip make the verdict steadier and the analysis slower. The curves are the model "
           "cards', measured by `make evaluate` on the validation split; nothing here is typed in.")

cards = installed_cards()
n_frames = frames_slider("speed")
source: ClipSource | None = st.session_state.get(LOADED_CLIP_KEY)
try:
    model = selected_model()
except dfcore.DfcoreError:
    model = None  # no usable model: nothing can be timed (the button says why)
timing_key = (source.digest, model.name) if source and model else None
measured: dict[int, float] | None = st.session_state.get(MEASURED_KEY, {}).get(timing_key)
measured_label = f"this clip, this machine ({model.name})" if model else "this clip, this machine"

if cards or measured:
    st.plotly_chart(speed_accuracy_figure(cards, n_frames, measured, measured_label), width="stretch",
                    key="speed_chart")
if cards:
    measured_on = "; ".join(f"{name}: on {card.get('evaluation', {}).get('machine', 'an unrecorded machine')}, "
                            f"{card.get('evaluation', {}).get('date', 'an unrecorded date')}"
                            for name, card in cards.items())
    st.caption(f"Measured {measured_on}. Seconds per video include decoding, face tracking and the model, not "
               "Grad-CAM. The dashed line is the frame count set on the Analyze page.")
    with st.expander("The cards' numbers"):
        for name, card in cards.items():
            rows = card.get("metrics", {}).get("ffpp_c23_val", {}).get("by_frames", {})
            if rows:
                table = pd.DataFrame.from_dict(rows, orient="index")
                table.index.name = "frames"
                st.markdown(f"**{name}**")
                st.dataframe(table, width="stretch")

st.subheader("Time the loaded clip")
if source is None:
    st.info("No clip loaded yet: analyse one on the Analyze or Webcam page, then come back to time it here.")
else:
    counts = list(DEFAULT_FRAME_COUNTS)
    st.write(f"Loaded: **{source.name}**. Times a fresh analysis (no caches, no Grad-CAM) with the model selected "
             f"in the sidebar at {counts} frames on this machine, now.")
    if st.button("Time every frame count", type="primary", key="speed_time"):
        detector = require_detector()
        bar = st.progress(0.0, text="Starting…")

        def progress(done: int, n: int) -> None:
            bar.progress(done / len(counts), text=f"Timing {n} frames ({done + 1}/{len(counts)})…")

        timed = run_readably(source.name, lambda: time_frame_counts(source, counts, detector, progress))
        bar.empty()
        if timed is not None:
            st.session_state.setdefault(MEASURED_KEY, {})[timing_key] = timed
            st.rerun()  # redraw the chart above with the new series
    if measured:
        st.dataframe(pd.DataFrame({"frames": list(measured), "seconds": [round(v, 3) for v in measured.values()]}),
                     hide_index=True)
        st.caption(f"Measured with {model.name}, dfcore {dfcore.__version__}, torch using {torch.get_num_threads()} "
                   "CPU thread(s), on a machine shared with whatever else runs here.")
