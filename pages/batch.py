"""Batch: several files at once, a sortable table of verdicts, a CSV, and any row's full analysis."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

import dfcore
from dfcore.reporting.report import verdict_label
from ui.analysis import ClipSource, analyse, run_readably, score_only
from ui.common import frames_slider, supported_types, upload_limit_mb
from ui.keyboard import ANALYZE
from ui.models import require_detector
from ui.navigation import run_by_router
from ui.result_view import ResultView

log = logging.getLogger(__name__)
ROWS_KEY = "batch_rows"  # the last batch's table rows, kept while the user explores them

run_by_router()
st.title("Batch")
st.caption("Analyse several files at once. Verdicts only at first (no Grad-CAM, so it is quick); open any row for "
           "its full analysis.")

detector = require_detector()

uploads = st.file_uploader("Videos or images", type=supported_types(), accept_multiple_files=True, key="batch_uploads",
                           help=f"Up to {upload_limit_mb()} MB per file.") or []
n_frames = frames_slider("batch")


def analyse_batch(files: list, n: int) -> list[dict]:
    """One table row per file; a file that fails gets a row with its error, the others go on."""
    bar = st.progress(0.0, text="Starting…")
    rows = []
    for k, upload in enumerate(files):
        def progress(stage: str, fraction: float, k: int = k, name: str = upload.name) -> None:
            bar.progress((k + fraction) / len(files), text=f"{k + 1}/{len(files)} · {name}: {stage}…")

        source = ClipSource.from_upload(upload)
        row = {"file": upload.name, "verdict": "ERROR", "fake probability": None, "frames with a face": None,
               "frames": None, "seconds": None, "error": "", "file_id": upload.file_id, "n_frames": n}
        try:
            r = score_only(source, n, detector, progress)
            row.update({"verdict": verdict_label(r), "fake probability": r.fake_probability,
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

rows = st.session_state.get(ROWS_KEY)
if rows:
    table = pd.DataFrame(rows)
    shown = table.drop(columns=["file_id", "n_frames"] + ([] if table["error"].astype(bool).any() else ["error"]))
    st.dataframe(shown, hide_index=True, width="stretch", key="batch_table", column_config={
        "fake probability": st.column_config.ProgressColumn("fake probability", format="%.3f", min_value=0.0,
                                                            max_value=1.0),
        "seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
    })
    st.caption("Click a column header to sort. Seconds: decoding, face tracking and scoring of that file.")
    st.download_button("Download CSV", shown.to_csv(index=False), "deepfake-lens-batch.csv", mime="text/csv",
                       on_click="ignore")

    by_id = {u.file_id: u for u in uploads}
    openable = [r for r in rows if r["verdict"] != "ERROR" and r["file_id"] in by_id]
    if len(openable) < len(rows):
        st.caption("Rows with an error, or whose file was removed from the uploader, cannot be opened.")
    if openable:
        st.subheader("Full analysis")
        row = st.selectbox("Open the analysis of", openable, key="batch_open",
                           format_func=lambda r: f"{r['file']} · {r['verdict']}")
        source = ClipSource.from_upload(by_id[row["file_id"]])
        view = ResultView("batch")
        result = run_readably(source.name, lambda: analyse(source, row["n_frames"], detector, view.layer))
        if result is not None:
            view.show(result, source.name, source.digest)
