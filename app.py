"""Deepfake Lens: the dashboard's router. Pages live in views/ and only render what dfcore returns.

The folder is deliberately not called ``pages/``: Streamlit treats a ``pages/``
folder beside the main script as an old-style multipage app until the router
has run once, so a fresh server opened at a deep link (``/webcam``) would run
that page without this router and list every module in the folder as a page.
"""

import streamlit as st

st.set_page_config(page_title="Deepfake Lens", page_icon=":material/center_focus_strong:", layout="wide")

page = st.navigation([
    st.Page("views/analyze.py", title="Analyze", icon=":material/movie:", url_path="analyze", default=True),
    st.Page("views/webcam.py", title="Webcam", icon=":material/videocam:", url_path="webcam"),
    st.Page("views/batch.py", title="Batch", icon=":material/table_rows:", url_path="batch"),
    st.Page("views/speed.py", title="Speed vs accuracy", icon=":material/speed:", url_path="speed"),
    st.Page("views/model.py", title="Model", icon=":material/description:", url_path="model"),
])
page.run()
