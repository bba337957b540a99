"""The Analyze page's sample list: the real sample first, each named with what it is and what the model says.

The verdicts come from analyses (20 frames, no Grad-CAM) kept in a JSON store
(:class:`dfcore.synth.sample_verdicts.SampleVerdictStore`, in dfcore's cache folder) per model and
sample, so each model analyses the samples once per machine; the analyses go
through the dashboard's caches, so the frames they decode are reused when the
user then analyses a sample.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

import dfcore
from dfcore.decision import VERDICT_LABELS, percent
from dfcore.models.detector import Detector
from dfcore.synth.sample_verdicts import FIRST_SAMPLE, SampleVerdict, SampleVerdictStore, describe_sample
from ui.analysis import ClipSource, score_only
from ui.common import DEFAULT_FRAMES

SAMPLE_VERDICTS_NAME = "sample_verdicts.json"
SAMPLE_FRAMES = DEFAULT_FRAMES  # the frame count the list's verdicts are measured at
_SESSION_KEY = "_sample_verdicts"  # per model sha256: {path: verdict or None}, so a rerun reads no file


def sample_verdicts_file() -> Path:
    """Where the verdicts are kept: dfcore's cache folder (``$DFCORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dfcore``,
    else ``~/.cache/dfcore``), read at call time so a test or a deployment can point it elsewhere."""
    folder = os.environ.get("DFCORE_CACHE_DIR")
    if not folder:
        folder = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dfcore")
    return Path(folder) / SAMPLE_VERDICTS_NAME


def first_sample_index(samples: list[Path]) -> int:
    """The position of the real sample (what a first-time user should see first), else 0."""
    names = [p.name for p in samples]
    return names.index(FIRST_SAMPLE) if FIRST_SAMPLE in names else 0


def sample_verdicts(samples: list[Path], detector: Detector) -> dict[Path, SampleVerdict | None]:
    """What ``detector`` says about each sample: from the store, else analysed now (once) and stored.

    A sample that cannot be analysed maps to None (the list then says so); analysing the samples is
    announced with a spinner, since it happens once per model before the list can be drawn.
    """
    known = st.session_state.setdefault(_SESSION_KEY, {}).setdefault(detector.sha256, {})
    wanted = [p for p in samples if p not in known]
    if not wanted:
        return {p: known[p] for p in samples}
    store = SampleVerdictStore(sample_verdicts_file())
    missing = []
    for path in wanted:
        source = ClipSource.from_path(path)
        verdict = store.get(detector.sha256, source.digest, SAMPLE_FRAMES)
        if verdict is None:
            missing.append(source)
        else:
            known[path] = verdict
    if missing:
        with st.spinner(f"Analysing the {len(missing)} sample(s) with {detector.installed_name}, once per model, so "
                        "the list can say what the model makes of each…"):
            for source in missing:
                known[source.path] = _analysed(source, detector, store)
    return {p: known[p] for p in samples}


def _analysed(source: ClipSource, detector: Detector, store: SampleVerdictStore) -> SampleVerdict | None:
    try:
        result = score_only(source, SAMPLE_FRAMES, detector)
    except dfcore.DfcoreError:
        return None  # the sample itself is broken: the list says "could not be analysed"; Analyze says why
    verdict = SampleVerdict(result.verdict, result.fake_probability, SAMPLE_FRAMES)
    store.put(detector.sha256, source.digest, verdict)
    return verdict


def model_says(verdict: SampleVerdict | None) -> str:
    """"NO SIGN FOUND (12%)", or why there is no verdict."""
    if verdict is None:
        return "could not be analysed"
    score = "" if verdict.fake_probability is None else f" ({percent(verdict.fake_probability)})"
    return f"{VERDICT_LABELS.get(verdict.verdict, verdict.verdict)}{score}"


def sample_label(path: Path, verdict: SampleVerdict | None, model_name: str) -> str:
    """One entry of the list: the file, what it is, and what the model says about it."""
    truth = describe_sample(path.name).split(":")[0] or "not described"
    return f"{path.name} · {truth} · {model_name} says {model_says(verdict)}"
