"""Model: each installed model's card rendered — architecture, training data and its terms, metrics, limitations —
and the device and version in use."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

import dfcore
from dfcore.evaluation.evaluate import auc_change_sentence
from dfcore.models.checkpoint import sha256_file
from dfcore.reporting.figures import reliability_figure
from dfcore.models.model_registry import ModelEntry
from ui.models import card_or_message, get_detector, installed_models, label
from ui.navigation import run_by_router


def _num(value: object) -> object:
    """Calibration constants to three decimals; anything else as it is."""
    return f"{value:.3f}" if isinstance(value, float) else value


def v(value: object) -> str:
    """A card value for display: missing values as a dash, not "None"."""
    return "–" if value is None or value == "" else str(value)


@st.cache_data(show_spinner=False, max_entries=8)
def _checkpoint_sha256(path: str, mtime_ns: int) -> str:
    return sha256_file(path)


def checkpoint_sha256(entry: ModelEntry) -> str | None:
    """The model's checkpoint file's sha256 (None when the file is missing), without loading the model."""
    try:
        mtime = entry.path.stat().st_mtime_ns
    except OSError:
        return None
    return _checkpoint_sha256(str(entry.path), mtime)


def show_card(entry: ModelEntry) -> None:
    """One model's card, as ``make evaluate`` wrote it."""
    card = card_or_message(entry)
    if card is None:
        return
    sha256 = checkpoint_sha256(entry)
    if sha256 and card.get("sha256") and card["sha256"] != sha256:
        st.warning(f"This card describes weights with sha256 {card['sha256'][:16]}…, not the installed "
                   f"{entry.path.name} ({sha256[:16]}…). Rebuild it with `make evaluate`.")

    arch, dec = card.get("architecture", {}), card.get("decision", {})
    tr, ev = card.get("training", {}), card.get("evaluation", {})

    st.header(card.get("name", "Model card"))
    st.caption(f"`{entry.card_path}` · file `{v(card.get('file'))}` · written by dfcore "
               f"{v(card.get('dfcore_version'))} on {v(ev.get('date'))} by `{v(ev.get('command'))}`")

    st.subheader("Architecture")
    params = arch.get("parameters")
    st.markdown(f"{v(arch.get('summary'))}\n\n"
                f"- Parameters: **{f'{params:,}' if isinstance(params, int) else '–'}**\n"
                f"- Input: {v(arch.get('input_size'))}×{v(arch.get('input_size'))} px face crops\n"
                f"- Faces: {v(arch.get('face_detector'))}")
    with st.expander("Model and preprocessing configuration"):
        st.json({"model_config": arch.get("model_config"), "preprocessing": arch.get("preprocessing")})

    st.subheader("Decision")
    threshold = dec.get("threshold")
    st.markdown(f"- FAKE when the calibrated clip probability ≥ **{threshold:.3f}**" if isinstance(threshold, float)
                else "- Threshold: –")
    st.markdown(f"- Rule: {v(dec.get('threshold_rule'))}\n"
                f"- Calibration: {v(dec.get('calibration'))} (clip: temperature {v(_num(dec.get('temperature')))}, "
                f"bias {v(_num(dec.get('bias')))}; frame: temperature {v(_num(dec.get('frame_temperature')))})")

    st.subheader("Training data and its terms")
    data = tr.get("data") or {}
    for d in data.get("datasets", []):
        st.markdown(f"- {d}")
    st.markdown(f"- Split: {v(data.get('split'))}\n- Sizes: {v(data.get('sizes'))}\n"
                f"- Synthesised: {v(data.get('synthesised'))}")
    if card.get("base_model"):
        st.markdown(f"- Started from: {card['base_model']}")
    st.info(card.get("data_terms", "No data terms recorded."))
    if tr.get("command"):
        st.caption(f"Trained with `{tr['command']}` in {v(tr.get('training_s'))} s "
                   f"(+ {v(tr.get('crop_extraction_s'))} s face-crop extraction) on {v(tr.get('machine'))}; "
                   f"best validation step {v(tr.get('best_step'))}.")
    else:
        st.caption("The checkpoint records no training run.")

    st.subheader("Metrics")
    st.caption(f"Split: {v(ev.get('split'))}. Machine: {v(ev.get('machine'))}.")
    metrics = card.get("metrics", {})
    for key, title in (("ffpp_c23_val", "FaceForensics++ c23 validation"),
                       ("dfdc_faces_val", "DFDC face crops validation"),
                       ("validation", "Validation split of the training data")):
        section = metrics.get(key)
        if not section:
            continue
        st.markdown(f"**{title}** (unit: {v(section.get('unit'))})")
        table = pd.DataFrame.from_dict(section.get("by_frames", {}), orient="index").round(3)
        table.index.name = "frames"
        st.dataframe(table, width="stretch")
        trend = auc_change_sentence(section.get("auc_change"))
        if trend:
            st.caption(trend)
    calibration = card.get("calibration", {})
    bins = calibration.get("ffpp_c23_val_40_frames") or calibration.get("validation_40_frames") or []
    if any(b.get("count") for b in bins):
        where = "FF++ validation" if calibration.get("ffpp_c23_val_40_frames") else "validation split"
        st.markdown(f"**Reliability** ({where}, 40 frames)")
        st.plotly_chart(reliability_figure(bins), width="stretch", key=f"model_reliability_{entry.name}")

    st.subheader("Limitations")
    for item in card.get("limitations", []):
        st.markdown(f"- {item}")


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
    models = installed_models()
except dfcore.DfcoreError as e:
    models = []
    st.error(e.message)
if len(models) > 1:
    for tab, entry in zip(st.tabs([label(m) for m in models]), models):
        with tab:
            show_card(entry)
elif models:
    show_card(models[0])
