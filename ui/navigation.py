"""The dashboard's pages and the router that runs them (``st.navigation``), deep links included.

Streamlit (1.60 still) decides once per server process, when the first session
starts, whether the app is an old-style multipage app: it is when a ``pages/``
folder sits beside the main script, as here. That first session's first run
then lists every script in ``pages/`` by its file name and runs the page a deep
link names (``/webcam``) on its own, without ``app.py``. The first call of
``st.navigation`` switches the whole process to the router for good. (AppTest
starts every run that way, so its page switches take the same path.)

So every page starts with :func:`run_by_router`: a page the router did not start
runs the router itself (:func:`run_app`, which calls ``st.navigation`` and so
switches the process), which draws the same page with the five pages listed,
and then ends the outer run. The run is not restarted, so a button press that
started it is not lost.
"""

from __future__ import annotations

import contextvars
from pathlib import Path

import streamlit as st

from ui.keyboard import browser_actions, theme_switch
from ui.models import model_selector

# The tab's icon, served by the app itself: a Material icon or an emoji as ``page_icon`` makes the browser
# fetch the favicon from a font CDN (fonts.gstatic.com), and nothing may leave the machine.
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
# True while the router runs a page; a page run by anything else (Streamlit's old-style pages) sees False.
_ROUTED = contextvars.ContextVar("dflens_routed", default=False)


def pages() -> list[st.Page]:
    """The five pages, in the order the navigation lists them; url paths are the deep links (the default
    page, Analyze, is served at ``/``)."""
    return [
        st.Page("pages/analyze.py", title="Analyze", icon=":material/movie:", url_path="analyze", default=True),
        st.Page("pages/webcam.py", title="Webcam", icon=":material/videocam:", url_path="webcam"),
        st.Page("pages/batch.py", title="Batch", icon=":material/table_rows:", url_path="batch"),
        st.Page("pages/speed.py", title="Speed vs accuracy", icon=":material/speed:", url_path="speed"),
        st.Page("pages/model.py", title="Model", icon=":material/description:", url_path="model"),
    ]


def router() -> st.Page:
    """The page the URL (or a page switch) asks for, with the five pages listed in the navigation.

    Draw what every page shares (the sidebar's widgets) after this: widgets drawn before
    the navigation exists lose their keyboard shortcuts on a page's first load.
    """
    return st.navigation(pages())


def run_page(page: st.Page) -> None:
    """Run the page :func:`router` returned, as the router."""
    token = _ROUTED.set(True)
    try:
        page.run()
    finally:
        _ROUTED.reset(token)


def run_app() -> None:
    """The whole app for one run: the router, what every page shares, and the page the URL asks for."""
    st.set_page_config(page_title="Deepfake Lens", page_icon=str(FAVICON), layout="wide")
    page = router()
    model_selector()
    theme_switch()
    run_page(page)
    browser_actions()  # after the page, so what a key press asked the browser to do finds its target


def run_by_router() -> None:
    """Make sure this page runs under the router; call it first in every page script.

    On a fresh server, the first deep link runs the page directly (see the module
    docstring): then this runs the app instead, whose router draws this same page
    with the right navigation, and ends the outer run.
    """
    if not _ROUTED.get():
        run_app()
        st.stop()
