"""Deepfake Lens: the dashboard's router. Pages live in pages/ and only render what dfcore returns."""

import streamlit as st

st.set_page_config(page_title="Deepfake Lens", page_icon=":material/center_focus_strong:", layout="wide")

page = st.navigation([
    st.Page("pages/analyze.py", title="Analyze", icon=":material/movie:", default=True),
])
page.run()
