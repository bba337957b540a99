"""Deepfake Lens: the dashboard's entry point (``streamlit run app.py``). The pages live in pages/ and only
render what dfcore returns.

The router (``st.navigation`` over the five pages), the sidebar every page
shares (the model selector and the dark-mode toggle) and the browser half of
the keyboard shortcuts are put together by ``ui.navigation.run_app``, which also
explains how deep links (``/webcam``) reach the router on a fresh server.
"""

from ui.navigation import run_app

run_app()
