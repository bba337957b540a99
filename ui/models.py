"""The installed models in the dashboard: the sidebar's model selector, each model's cached detector, its card.

The selector is drawn by the router (app.py), so it is on every page and its
choice is one session-wide setting; the pages read it through
:func:`selected_model` and :func:`require_detector`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

import dfcore
from dfcore.analyze import AnalysisResult
from dfcore.models.detector import Detector
from dfcore.models.model_registry import ModelEntry, list_models, read_card, resolve_offered, withdrawn_models
from dfcore.reporting.verdict_card import card_matches

MODEL_KEY = "model"  # session-wide: the name of the installed model every page analyses with
# Held while a model loads and while a Grad-CAM layer is explained in the background (ui.analysis): both may
# export an ONNX graph, and torch.onnx.export keeps process-wide state, so two at once fail.
MODEL_WORK = threading.Lock()
TRAIN_HINT = "Train the detector with `make train`, then build its model card with `make evaluate`."


def installed_models() -> list[ModelEntry]:
    """The models offered for analysis, the default first (just ``$DFCORE_WEIGHTS`` when it is set).

    Raises:
        WeightsError: ``weights/models.json`` is not a valid model list.
    """
    return list_models()


def withdrawn() -> list[ModelEntry]:
    """The installed models that are withdrawn (``entry.withdrawn``: why): shown with their reason, never offered.

    Raises:
        WeightsError: ``weights/models.json`` is not a valid model list.
    """
    return withdrawn_models()


def label(entry: ModelEntry) -> str:
    return f"{entry.name} (default)" if entry.default else entry.name


def model_selector() -> None:
    """The sidebar's model selector; the default model until the user picks another."""
    try:
        models = installed_models()
    except dfcore.DfcoreError as e:
        st.sidebar.error(e.message)
        return
    if not models:
        return  # the pages say that no model is installed, and what to do
    by_name = {m.name: m for m in models}
    if st.session_state.get(MODEL_KEY) not in by_name:  # first visit, or the chosen model was removed
        st.session_state[MODEL_KEY] = models[0].name
    st.sidebar.selectbox("Model", list(by_name), key=MODEL_KEY, format_func=lambda n: label(by_name[n]),
                         disabled=len(models) == 1,
                         help="The installed model every page analyses with. The Model page shows each one's "
                              "card; the Speed vs accuracy page compares them.")


def selected_model() -> ModelEntry:
    """The model chosen in the sidebar (the default before any choice).

    Raises:
        NoWeightsInstalledError: no model is installed.
        WeightsError: ``weights/models.json`` is not a valid model list.
    """
    name = st.session_state.get(MODEL_KEY)
    try:
        return resolve_offered(name)
    except dfcore.DfcoreError:
        if name is None:
            raise
        return resolve_offered(None)  # the chosen model is gone or withdrawn (e.g. DFCORE_WEIGHTS changed): the default


def get_detector() -> Detector:
    """The selected model's detector, loaded once per checkpoint file and shared by all sessions.

    Raises:
        NoWeightsInstalledError, WeightsError: no usable weights (show ``e.message``).
    """
    entry = selected_model()
    try:
        mtime = entry.path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _load_detector(entry.name, str(entry.path), mtime)


# Keyed by the checkpoint's path and modification time: each model is loaded once, and weights
# that land (or are retrained) while the app runs are picked up without a restart. Failures are not cached.
@st.cache_resource(show_spinner="Loading the detector…", max_entries=4)
def _load_detector(name: str, path: str, mtime_ns: int) -> Detector:
    with MODEL_WORK:
        return dfcore.load_detector(model=name)


def require_detector() -> Detector:
    """The selected model's detector, or a readable error and the end of this page's run."""
    try:
        return get_detector()
    except dfcore.DfcoreError as e:
        st.error(e.message)
        st.info(TRAIN_HINT + " To use another checkpoint, start the app with `DFCORE_WEIGHTS=/path/to/file.pt`.")
        st.stop()


def card_or_message(entry: ModelEntry) -> dict | None:
    """The model's card, or None after telling the user plainly why there is none."""
    try:
        card = read_card(entry)
    except dfcore.DfcoreError as e:
        st.error(e.message)
        return None
    if card is None:
        st.info(f"No model card yet for {entry.name}: `{entry.card_path}` does not exist. The card's numbers are "
                f"measured, never typed in. {TRAIN_HINT}")
    return card


def card_of(result: AnalysisResult) -> dict | None:
    """The card of the offered model that made ``result`` (matched by the checkpoint's sha256, or by file name for a
    card that records none), for the verdict card's measured error rates; None when no readable card describes it."""
    try:
        entries = installed_models()
    except dfcore.DfcoreError:
        return None
    for entry in entries:
        card = _card(entry, _mtime(entry.card_path))
        if card_matches(card, result) and (card.get("sha256") or entry.path.name == result.model_file):
            return card
    return None


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


# Keyed by the entry and the card's modification time: a rebuilt card is read again, an unchanged one once.
# An unreadable card gives None here; the Model page says why (card_or_message).
@st.cache_data(show_spinner=False, max_entries=16)
def _card(entry: ModelEntry, mtime_ns: int) -> dict | None:
    try:
        return read_card(entry)
    except dfcore.DfcoreError:
        return None
