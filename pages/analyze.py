"""Analyze: one clip in, the verdict, the per-frame timeline and Grad-CAM evidence out."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

import dfcore
from dfcore.explain import overlay
from pages.common import get_detector, sample_videos, uploaded_file

st.title("Deepfake Lens")
st.caption("Drop in a clip: the tracked face, a REAL/FAKE verdict, per-frame confidence and Grad-CAM evidence.")

try:
    detector = get_detector()
except dfcore.DfcoreError as e:
    st.error(e.message)
    st.stop()

samples = sample_videos()
source = st.radio("Video", ["Sample video", "Upload"], horizontal=True)
upload = None
sample = None
if source == "Upload":
    exts = sorted(e.lstrip(".") for e in dfcore.video_io.SUPPORTED_EXTENSIONS)
    upload = st.file_uploader("Video or image", type=exts)
else:
    sample = st.selectbox("Sample", samples, format_func=lambda p: p.name) if samples else None
n_frames = st.slider("Frames to analyse", 10, 100, 20, step=2)


def _run(path) -> dfcore.AnalysisResult:
    bar = st.progress(0.0, text="Starting…")
    result = dfcore.analyze_video(path, n_frames, detector=detector, explain=True,
                                  progress=lambda stage, frac: bar.progress(frac, text=stage.capitalize() + "…"))
    bar.empty()
    return result


result = None
if st.button("Analyze", type="primary", disabled=upload is None and sample is None):
    try:
        if upload is not None:
            with uploaded_file(upload) as path:
                result = _run(path)
        else:
            result = _run(sample)
    except dfcore.DfcoreError as e:
        st.error(e.message)
    except ValueError as e:
        st.error(f"Could not analyse this file: {e}")

if result is not None:
    label = {"REAL": "REAL", "FAKE": "FAKE", "NO_FACE": "NO FACE"}[result.verdict]
    c1, c2, c3 = st.columns(3)
    c1.metric("Verdict", label)
    c2.metric("Fake probability", "–" if result.fake_probability is None else f"{result.fake_probability:.1%}")
    c3.metric("Frames with a face", f"{result.n_faces} / {len(result.frames)}")
    st.caption(f"Threshold {result.threshold:.3f} · model {result.model_name} ({result.model_sha256[:12]})")
    for note in result.notes:
        st.info(note)

    times = [f.time_s for f in result.frames]
    probs = [f.fake_probability for f in result.frames]
    fig = go.Figure(go.Scatter(x=times, y=probs, mode="lines+markers", connectgaps=False,
                               customdata=[f.index for f in result.frames],
                               hovertemplate="frame %{customdata}<br>t=%{x:.2f}s<br>p(fake)=%{y:.3f}<extra></extra>"))
    fig.add_hline(y=result.threshold, line_dash="dash", annotation_text="threshold")
    fig.update_layout(xaxis_title="time (s)", yaxis_title="fake probability", yaxis_range=[0, 1], height=320)
    st.plotly_chart(fig, use_container_width=True)

    if result.cams:
        st.subheader("Grad-CAM: most suspicious frames")
        scored = [i for i, p in enumerate(probs) if p is not None]
        top = sorted(scored, key=lambda i: probs[i], reverse=True)[:6]
        cols = st.columns(len(top) or 1)
        for col, i in zip(cols, top):
            col.image(overlay(result.crops[i], result.cams[i], 0.45),
                      caption=f"t={times[i]:.2f}s · p={probs[i]:.2f}", use_container_width=True)
    with st.expander("Timings"):
        st.json({k: round(v, 3) for k, v in result.timings_s.items()})
