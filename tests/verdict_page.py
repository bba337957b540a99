"""A test-only Streamlit page: the dashboard's result view of a hand-made analysis (tests/shown_verdicts.py), so a
browser test can see each verdict as the app draws it without steering a model to it.

``?verdict=FAKE`` (or UNCERTAIN, NO_SIGN, NO_FACE; ``&thin=1`` for UNCERTAIN from thin evidence) chooses the
result. Served by tests/test_e2e_verdicts.py with ``streamlit run tests/verdict_page.py``; never part of the app.
"""

import streamlit as st

from shown_verdicts import made_result
from ui.result_view import ResultView

verdict = st.query_params.get("verdict", "FAKE")
result = made_result(verdict, thin=st.query_params.get("thin") == "1", name=f"{verdict.lower()}.mp4")
ResultView("shown").show(result, result.path, f"{verdict}-digest")
