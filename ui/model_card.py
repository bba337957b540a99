"""One model's card on the Model page: every measured number with a readable name, rates in percent, no raw
dicts, no unrounded floats and no server paths.

The card is ``make evaluate``'s JSON (``dfcore.evaluation.card``); keys a card lacks (written before them) are
shown as a dash or left out, never invented.
"""

from __future__ import annotations

from pathlib import PurePath

import pandas as pd
import streamlit as st

from dfcore.decision import percent
from dfcore.evaluation.evaluate import auc_change_sentence
from dfcore.models.checkpoint import sha256_file
from dfcore.models.model_registry import ModelEntry
from dfcore.reporting.figures import reliability_figure
from dfcore.reporting.verdict_card import error_rates_sentence, thresholds_line
from ui.models import card_or_message

# The card's per-frame-count metrics, in the order shown: key, column header, how to show a value.
AUC, RATE, DECIMALS, SECONDS, COUNT = "auc", "rate", "decimals", "seconds", "count"
METRIC_COLUMNS = (
    ("auc", "AUC (95% interval)", AUC),
    ("accuracy", "Accuracy", RATE),
    ("real_called_fake", "Reals called FAKE", RATE),
    ("fakes_caught", "Fakes called FAKE", RATE),
    ("eer", "Equal error rate", RATE),
    ("log_loss", "Log-loss", DECIMALS),
    ("ece", "Calibration error (ECE)", RATE),
    ("frame_auc", "Frame AUC (95% interval)", AUC),
    ("seconds_per_video", "Seconds per video", SECONDS),
    ("n_scored", "Scored", COUNT),
    ("n_no_face", "No face", COUNT),
    ("n_errors", "Errors", COUNT),
)
METRIC_SECTIONS = (("ffpp_c23_val", "FaceForensics++ c23"), ("dfdc_faces_val", "DFDC face crops"),
                   ("validation", "Validation split of the training data"))
WORDS = {"ffpp": "FF++", "dfdc": "DFDC", "calib": "calibration", "th": "talking heads"}  # split-name parts


def v(value: object) -> str:
    """A card value for display: missing as a dash (never "None"), floats to three decimals, lists joined."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(v(x) for x in value)
    if isinstance(value, dict):
        return "; ".join(f"{readable(k)}: {v(x)}" for k, x in value.items())
    return str(value)


def readable(key: str) -> str:
    """A card key in words: "ffpp_train" -> "FF++ train", "stage_planes" -> "stage planes"."""
    return " ".join(WORDS.get(part, part) for part in str(key).split("_"))


def file_name(path: object) -> str:
    """Only the file's name: the card may record where a file lay on the machine that wrote it."""
    return PurePath(str(path)).name if path else "–"


def duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)):
        return "–"
    return f"{seconds:,.0f} s ({seconds / 60:.0f} min)" if seconds >= 120 else f"{seconds:.0f} s"


def metric_cell(row: dict, key: str, kind: str) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    if kind == AUC:
        low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
        return f"{value:.2f}" + (f" ({low:.2f}–{high:.2f})" if low is not None and high is not None else "")
    if kind == RATE:
        return percent(value)
    if kind == DECIMALS:
        return f"{value:.3f}"
    if kind == SECONDS:
        return f"{value:.2f}"
    if key == "n_scored" and row.get("n_videos") is not None:
        return f"{value} of {row['n_videos']}"
    return str(value)


def metrics_table(by_frames: dict) -> pd.DataFrame:
    """The card's per-frame-count metrics as display strings, one row per frame count, readable headers; a
    metric no row has is left out."""
    used = [(k, header, kind) for k, header, kind in METRIC_COLUMNS if any(k in r for r in by_frames.values())]
    table = pd.DataFrame([[metric_cell(r, k, kind) for k, _, kind in used] for r in by_frames.values()],
                         columns=[header for _, header, _ in used], index=list(by_frames))
    table.index.name = "frames"
    return table


def decision_lines(dec: dict) -> list[str]:
    """The card's decision section as sentences: both thresholds in percent, how they were set, the calibration."""
    t_fake = dec.get("t_fake", dec.get("threshold"))
    t_no_sign = dec.get("t_no_sign")
    lines = []
    one_threshold = dec.get("three_way") is False or t_no_sign is None or t_no_sign == t_fake
    if isinstance(t_fake, (int, float)) and isinstance(t_no_sign, (int, float)) and not one_threshold:
        lines.append(f"{thresholds_line(t_fake, t_no_sign)}; UNCERTAIN between (or when the face is found in too "
                     "few frames or is too small).")
    elif isinstance(t_fake, (int, float)):
        lines.append(f"One threshold: FAKE at ≥ {percent(t_fake)}, NO SIGN FOUND below it (calibrated before the "
                     "UNCERTAIN band existed).")
    if dec.get("threshold_rule"):
        lines.append(f"How the FAKE threshold was set: {dec['threshold_rule']}.")
    if dec.get("rule"):
        lines.append(f"Rule: {dec['rule']}.")
    clips = dec.get("calibration_split_clips")
    if isinstance(clips, dict) and clips:
        lines.append(f"Calibration split: {', '.join(f'{n} {k}' for k, n in clips.items())} clips.")
    for key, what in (("calibration_real_called_fake", "Calibration reals called FAKE"),
                      ("calibration_fakes_caught", "Calibration fakes called FAKE")):
        if isinstance(dec.get(key), (int, float)):
            lines.append(f"{what}: {percent(dec[key])}.")
    if dec.get("calibration"):
        lines.append(f"Calibration: {dec['calibration']}.")
    constants = [(k, what) for k, what in (("temperature", "clip temperature"), ("bias", "clip bias"),
                                           ("frame_temperature", "frame temperature")) if dec.get(k) is not None]
    if constants:
        lines.append("Constants: " + ", ".join(f"{what} {v(dec[k])}" for k, what in constants) + ".")
    return lines


def leave_one_out_line(loo: dict) -> str | None:
    """The card's leave-one-method-out entry in words (the checkpoint's path and hash are left out)."""
    if not loo or loo.get("auc") is None:
        return None
    row = {**loo}
    auc = metric_cell(row, "auc", AUC)
    frame_auc = f", frame AUC {metric_cell(row, 'frame_auc', AUC)}" if loo.get("frame_auc") is not None else ""
    return (f"A model trained without {v(loo.get('method'))} ({v(loo.get('recipe'))}), scored on "
            f"{v(loo.get('scored_on'))}: AUC {auc} at {v(loo.get('frames'))} frames{frame_auc}, "
            f"{v(loo.get('n_scored'))} clips scored.")


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
    """One model's card, as ``make evaluate`` wrote it; a withdrawn model's reason first."""
    if entry.withdrawn:
        st.error(f"Withdrawn: {entry.withdrawn.rstrip('.')}. It is not offered for analysis; its card is kept for the record.",
                 icon=":material/block:")
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
    st.caption(f"Card `{entry.card_path.name}` · checkpoint `{file_name(card.get('file'))}` · written by dfcore "
               f"{v(card.get('dfcore_version'))} on {v(ev.get('date'))} by `{v(ev.get('command'))}`")

    st.subheader("Architecture")
    params = arch.get("parameters")
    st.markdown(f"{v(arch.get('summary'))}\n\n"
                f"- Parameters: **{f'{params:,}' if isinstance(params, int) else '–'}**\n"
                f"- Input: {v(arch.get('input_size'))}×{v(arch.get('input_size'))} px face crops\n"
                f"- Faces: {v(arch.get('face_detector'))}")
    with st.expander("Model and preprocessing configuration"):
        for title, section in (("Model", arch.get("model_config")), ("Preprocessing", arch.get("preprocessing"))):
            if isinstance(section, dict) and section:
                st.markdown(f"**{title}**\n\n" + "\n".join(f"- {readable(k)}: {v(x)}" for k, x in section.items()))

    st.subheader("Decision")
    st.markdown("\n".join(f"- {line}" for line in decision_lines(dec)) or "- –")
    rates = error_rates_sentence(card)
    if rates:
        st.markdown(f"**Measured error rates.** {rates}")

    st.subheader("Training data and its terms")
    data = tr.get("data") or {}
    for d in data.get("datasets", []):
        st.markdown(f"- {d}")
    sizes = data.get("sizes")
    st.markdown(f"- Split: {v(data.get('split'))}\n- Sizes: {v(sizes)}\n"
                f"- Synthesised: {v(data.get('synthesised'))}" +
                (f"\n- Manipulation methods left out: {v(data['excluded_methods'])}" if data.get("excluded_methods")
                 else "") +
                (f"\n- Pretrained: {data['pretrained']}" if data.get("pretrained") else "") +
                (f"\n- Distilled from: {file_name(data['distilled_from'])}" if data.get("distilled_from") else ""))
    if card.get("base_model"):
        st.markdown(f"- Started from: {file_name(card['base_model'])}")
    st.info(card.get("data_terms") or data.get("terms") or "No data terms recorded.")
    if tr.get("command"):
        st.caption(f"Trained with `{tr['command']}` in {duration(tr.get('training_s'))} "
                   f"(+ {duration(tr.get('crop_extraction_s'))} face-crop extraction) on {v(tr.get('machine'))}; "
                   f"best validation step {v(tr.get('selected_frame_step', tr.get('best_step')))}.")
    else:
        st.caption("The checkpoint records no training run.")

    st.subheader("Metrics")
    st.caption(f"Split: {v(ev.get('split'))}. Machine: {v(ev.get('machine'))}. Rates in percent; AUC from 0.5 "
               "(chance) to 1 (perfect), with its 95% bootstrap interval where the card has one.")
    metrics = card.get("metrics", {})
    for key, title in METRIC_SECTIONS:
        section = metrics.get(key)
        if not section or not section.get("by_frames"):
            continue
        split = f", {section['split']} split" if section.get("split") else ""
        st.markdown(f"**{title}**{split} (unit: {v(section.get('unit'))})")
        st.dataframe(metrics_table(section["by_frames"]), width="stretch")
        trend = auc_change_sentence(section.get("auc_change"))
        if trend:
            st.caption(trend)
    loo = leave_one_out_line(metrics.get("leave_one_method_out") or {})
    if loo:
        st.markdown(f"**A manipulation method never trained on.** {loo}")
    calibration = card.get("calibration", {})
    bins = calibration.get("ffpp_c23_val_40_frames") or calibration.get("validation_40_frames") or []
    if any(b.get("count") for b in bins):
        where = "FF++ validation" if calibration.get("ffpp_c23_val_40_frames") else "validation split"
        st.markdown(f"**Reliability** ({where}, 40 frames)")
        st.plotly_chart(reliability_figure(bins), width="stretch", key=f"model_reliability_{entry.name}")

    st.subheader("Limitations")
    for item in card.get("limitations", []):
        st.markdown(f"- {item}")
