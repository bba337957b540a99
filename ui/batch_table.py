"""The Batch page's table: its rows as shown and saved, each row coloured by its verdict, files told apart by hash.

A progress bar's colour is one per column in Streamlit, so a bar cannot say
the verdict: the bars are drawn in a neutral grey (their length is the score),
and the verdict and score cells are tinted by the row's verdict, as the Analyze
page colours it (red FAKE, amber UNCERTAIN, green NO SIGN FOUND, grey NO FACE).
A low score on a NO SIGN row is never red.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from dfcore.decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, VERDICT_LABELS

ERROR = "ERROR"  # the verdict column of a file that could not be analysed
HIDDEN = ["file_id", "n_frames"]  # what a row keeps to reopen its file, not shown
SCORE = "fake score (%)"
HASH = "sha256"  # the file's content hash, shortened: two files of the same name are told apart by it
HASH_CHARS = 10
# Translucent tints: readable under the text in the light and the dark theme alike.
VERDICT_TINTS = {
    VERDICT_LABELS[FAKE]: "rgba(230, 60, 60, 0.28)",
    VERDICT_LABELS[UNCERTAIN]: "rgba(240, 160, 30, 0.28)",
    VERDICT_LABELS[NO_SIGN]: "rgba(40, 170, 90, 0.28)",
    VERDICT_LABELS[NO_FACE]: "rgba(128, 128, 128, 0.22)",
}
TINTED = ("verdict", SCORE)  # the cells that carry the row's verdict colour


def short_hash(sha256: str) -> str:
    return sha256[:HASH_CHARS]


def table_of(rows: list[dict]) -> pd.DataFrame:
    """The rows as shown and saved: whole numbers as nullable integers, so a missing one is blank (never "None")."""
    table = pd.DataFrame(rows).drop(columns=HIDDEN)
    for col in ("frames with a face", "frames"):
        table[col] = table[col].astype("Int64")
    for col in (SCORE, "FAKE at ≥ (%)", "NO SIGN below (%)", "seconds"):
        table[col] = table[col].astype("Float64")
    return table


def row_styles(table: pd.DataFrame) -> pd.DataFrame:
    """CSS per cell: the verdict and score cells of each row tinted by its verdict, the others (and errors) plain."""
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    for i, verdict in table["verdict"].items():
        tint = VERDICT_TINTS.get(verdict)
        if tint:
            for col in TINTED:
                styles.loc[i, col] = f"background-color: {tint}"
    return styles


def styled(table: pd.DataFrame) -> Styler:
    """The table for ``st.dataframe``, coloured by :func:`row_styles` (the CSV is saved from ``table`` itself)."""
    return table.style.apply(lambda _: row_styles(table), axis=None)


def column_config() -> dict:
    """How the numbers are drawn: the score as a grey bar (its colour must not read as a verdict)."""
    return {
        SCORE: st.column_config.ProgressColumn(SCORE, format="%.0f%%", min_value=0.0, max_value=100.0, color="gray",
                                               help="The clip's calibrated fake score. The cell's colour is the "
                                                    "row's verdict; the bar's length is the score."),
        HASH: st.column_config.TextColumn(HASH, help=f"The first {HASH_CHARS} hex digits of the file's sha256: "
                                                     "two files of the same name are told apart by it, and it "
                                                     "matches the JSON and HTML downloads."),
        "FAKE at ≥ (%)": st.column_config.NumberColumn("FAKE at ≥ (%)", format="%.0f%%"),
        "NO SIGN below (%)": st.column_config.NumberColumn("NO SIGN below (%)", format="%.0f%%"),
        "seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
    }


def row_label(row: dict, rows: list[dict]) -> str:
    """A row as the "open the analysis of" list names it; a name that two rows share gets its hash."""
    same_name = sum(r["file"] == row["file"] for r in rows) > 1
    name = f"{row['file']} ({row[HASH]})" if same_name else row["file"]
    return f"{name} · {row['verdict']}"
