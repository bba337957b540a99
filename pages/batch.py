"""Batch: several files at once, a sortable table of verdicts, a CSV, and any row's full analysis."""

from __future__ import annotations

import logging

import streamlit as st

import dfcore
from dfcore.reporting.verdict_card import verdict_label
from ui.analysis import ClipSource, analyse, prepare_other_layers, run_readably, score_only
from ui.batch_table import ERROR, HASH, column_config, row_label, short_hash, styled, table_of
from ui.common import frames_slider, supported_types, upload_limit_mb
from ui.keyboard import ANALYZE
from ui.models import require_detector, selected_model
from ui.navigation import run_by_router
from ui.result_view import ResultView

log = logging.getLogger(__name__)
ROWS_KEY = "batch_rows"  # the last batch's table rows, kept while the user explores them
MADE_BY_KEY = "batch_made_by"  # (model name, checkpoint sha256) that made those rows

run_by_router()
st.title("Batch")
st.caption("Analyse several files at once. Verdicts only at first (no Grad-CAM, so it is quick); open any row for "
           "its full analysis.")

detector = require_detector()
model = selected_model().name

uploads = st.file_uploader("Videos or images", type=supported_types(), accept_multiple_files=True, key="batch_uploads",
                           help=f"Up to {upload_limit_mb()} MB per file.") or []
n_frames = frames_slider("batch")


def analyse_batch(files: list, n: int) -> list[dict]:
    """One table row per file; a file that fails gets a row with its error, the others go on.

    Numbers a row lacks (no face, an error) are None, which the table and the CSV leave blank.
    """
    bar = st.progress(0.0, text="Starting…")
    rows = []
    for k, upload in enumerate(files):
        def progress(stage: str, fraction: float, k: int = k, name: str = upload.name) -> None:
            bar.progress((k + fraction) / len(files), text=f"{k + 1}/{len(files)} · {name}: {stage}…")

        source = ClipSource.from_upload(upload)
        row = {"file": upload.name, HASH: short_hash(source.digest), "model": model, "verdict": ERROR, "fake score (%)": None,
               "FAKE at ≥ (%)": None, "NO SIGN below (%)": None, "frames with a face": None, "frames": None,
               "seconds": None, "error": "", "file_id": upload.file_id, "n_frames": n}
        try:
            r = score_only(source, n, detector, progress)
            row.update({"verdict": verdict_label(r),
                        "fake score (%)": None if r.fake_probability is None else round(100 * r.fake_probability, 1),
                        "FAKE at ≥ (%)": round(100 * r.threshold, 1), "NO SIGN below (%)": round(100 * r.t_no_sign, 1),
                        "frames with a face": r.n_faces, "frames": len(r.frames),
                        "seconds": round(r.timings_s["total"], 2)})
        except dfcore.DfcoreError as e:
            row["error"] = e.message
        except Exception as e:  # noqa: BLE001 - one unreadable file must not end the whole batch
            log.exception("batch analysis of %s failed", upload.name)
            row["error"] = f"the analysis failed ({type(e).__name__}: {e})"
        rows.append(row)
    bar.empty()
    return rows


if st.button(f"Analyze {len(uploads)} file(s)", key="batch_run", type="primary", disabled=not uploads,
             shortcut=ANALYZE.keys):
    st.session_state[ROWS_KEY] = analyse_batch(uploads, n_frames)
    st.session_state[MADE_BY_KEY] = (model, detector.sha256)

rows = st.session_state.get(ROWS_KEY)
if rows:
    made_by, made_sha = st.session_state.get(MADE_BY_KEY, (None, None))
    stale = made_sha != detector.sha256
    if stale:
        st.warning(f"Stale: these verdicts were made by the model {made_by}; the selected model is now {model}. "
                   f"Press Analyze to judge the files with {model}.", icon=":material/history:")
    table = table_of(rows)
    shown = table.drop(columns=[] if table["error"].astype(bool).any() else ["error"])
    # placeholder: a missing number (no face, an error) is a blank cell, not the word "None".
    st.dataframe(styled(shown), hide_index=True, width="stretch", key="batch_table", placeholder="",
                 column_config=column_config())
    st.caption("Click a column header to sort. Fake score: the clip's calibrated fake score in percent (the bar's "
               "length; the cell's colour is the verdict); FAKE at or above the first threshold, NO SIGN FOUND "
               "below the second, UNCERTAIN between (or when the face was too rarely found or too small). sha256: the start of the file's hash, which tells apart two "
               "files of the same name. Seconds: decoding, face tracking and scoring of that file.")
    for r in rows:
        if r["verdict"] == ERROR:
            # In full (a table cell would cut it off); a dfcore error already starts with the file's name.
            st.error(r["error"] if r["error"].startswith(r["file"]) else f"{r['file']}: {r['error']}")
    st.download_button("Download CSV", shown.to_csv(index=False), "deepfake-lens-batch.csv", mime="text/csv",
                       on_click="ignore")

    by_id = {u.file_id: u for u in uploads}
    openable = [r for r in rows if r["verdict"] != ERROR and r["file_id"] in by_id]
    if len(openable) < len(rows):
        st.caption("Rows with an error, or whose file was removed from the uploader, cannot be opened.")
    if openable and not stale:
        st.subheader("Full analysis")
        row = st.selectbox("Open the analysis of", openable, key="batch_open",
                           format_func=lambda r: row_label(r, openable))
        source = ClipSource.from_upload(by_id[row["file_id"]])
        view = ResultView("batch")
        result = run_readably(source.name, lambda: analyse(source, row["n_frames"], detector, view.layer))
        if result is not None:
            view.show(result, source.name, source.digest)
            prepare_other_layers(source, row["n_frames"], detector, view.layer)
