"""Model: each installed model's card rendered — architecture, training data and its terms, metrics, limitations —
withdrawn models with the reason they are not offered, and the device and version in use."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

import dfcore
from ui.model_card import show_card
from ui.models import get_detector, installed_models, label, withdrawn
from ui.navigation import run_by_router

run_by_router()
st.title("Model")

# The device and version are shown even without weights or a card: they describe this installation.
try:
    detector = get_detector()
    selected = f"`{Path(detector.checkpoint.path).name}` ({detector.checkpoint.model_name}) · sha256 " \
               f"`{detector.sha256[:16]}…`"
    device = f"CPU · {torch.get_num_threads()} thread(s)" if detector.device.type == "cpu" \
        else f"{detector.device} · {torch.cuda.get_device_name(detector.device)}"
except dfcore.DfcoreError as e:
    selected = "none"
    device = "–"
    st.error(e.message)

c1, c2, c3 = st.columns(3)
c1.metric("dfcore", dfcore.__version__)
c2.metric("Device in use", device)
c3.markdown(f"**Selected model** (sidebar)  \n{selected}")

try:
    models = installed_models() + withdrawn()  # withdrawn ones last: their cards stay readable, with the reason
except dfcore.DfcoreError as e:
    models = []
    st.error(e.message)
if len(models) > 1:
    names = [f"{m.name} (withdrawn)" if m.withdrawn else label(m) for m in models]
    for tab, entry in zip(st.tabs(names), models):
        with tab:
            show_card(entry)
elif models:
    show_card(models[0])
