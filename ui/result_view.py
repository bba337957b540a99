"""The result view every page shows for one analysis: verdict, preview, timeline, frame explorer, gallery, downloads.

The Grad-CAM layer is part of the analysis, so it is read (from the session)
before the analysis runs, while its widget is drawn in the explorer below the
verdict with everything else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import streamlit as st

import dfcore
from dfcore.analyze import AnalysisResult
from dfcore.decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, percent
from dfcore.models.explain import LAYERS
from dfcore.models.model import MODEL_CONFIGS
from dfcore.reporting.figures import timeline_figure
from dfcore.reporting.report import (
    annotated_frame,
    cam_overlay,
    html_report,
    most_suspicious,
    report_filename,
    write_preview,
)
from dfcore.reporting.verdict_card import GRADCAM_NOTE, thresholds_line, verdict_card
from ui.keyboard import JSON_RESULT, REPORT
from ui.models import card_of

GALLERY_SIZE = 6
# Streamlit's named text colours for the verdict label (the report uses dfcore.reporting.verdict_card's hex ones).
VERDICT_COLOURS = {FAKE: "red", UNCERTAIN: "orange", NO_SIGN: "green", NO_FACE: "gray"}
LAYER_NOTES = {"layer4": "coarse", "layer3": "middle", "layer2": "fine"}
# What each Grad-CAM layer is in each backbone (dfcore.models.model and .backbones cut every backbone into
# stem + layer1..layer4), so the help names the stages of the model that is loaded.
BACKBONE_STAGES = {
    "efficientnet_lite0": ("EfficientNet-Lite0", {
        "layer4": "MBConv blocks 5-6 and the 1×1 head convolution, 1/32 of the crop",
        "layer3": "MBConv blocks 3-4, 1/16 of the crop", "layer2": "MBConv block 2, 1/8 of the crop"}),
    "resnext_compact": ("ResNeXt", {
        "layer4": "ResNeXt stage 4, 1/16 of the crop", "layer3": "ResNeXt stage 3, 1/16 of the crop",
        "layer2": "ResNeXt stage 2, 1/8 of the crop"}),
    "resnext50_32x4d": ("ResNeXt-50", {
        "layer4": "ResNeXt stage 4, 1/32 of the crop", "layer3": "ResNeXt stage 3, 1/16 of the crop",
        "layer2": "ResNeXt stage 2, 1/8 of the crop"}),
}


def layer_help(model_name: str) -> str:
    """The Grad-CAM layer's help, naming the stages of the model ``model_name`` (a dfcore model name)."""
    config = MODEL_CONFIGS.get(model_name)
    backbone, stages = BACKBONE_STAGES.get(config.backbone if config else "", ("CNN", {}))
    where = "; ".join(f"{layer} = {stages[layer]}" for layer in LAYERS if layer in stages)
    return (f"Which stage of this model's {backbone} backbone ({model_name}) Grad-CAM reads. layer4, the deepest, "
            "gives coarse, most semantic regions; layer3 finer ones; layer2 fine texture, noisier."
            + (f" Here: {where}." if where else "")
            + " The maps of every layer are prepared after the analysis, so switching is quick.")


class ResultView:
    """Show one analysis; its widgets' keys derive from ``key`` (unique per place the view appears).

    Args:
        key: unique per place the view appears.
        shortcuts: give the downloads their keyboard shortcuts (one view per page may: a key triggers one button).
    """

    def __init__(self, key: str, shortcuts: bool = False) -> None:
        self.key = key
        self.shortcuts = shortcuts

    @property
    def verdict_key(self) -> str:
        """The key of the verdict's container (its CSS class is ``st-key-<key>``)."""
        return f"{self.key}_verdict"

    @property
    def layer(self) -> str:
        """The Grad-CAM layer chosen in this view (the default until the user picks one)."""
        layer = st.session_state.get(f"{self.key}_layer")
        return layer if layer in LAYERS else LAYERS[0]

    @property
    def frame_key(self) -> str:
        return f"{self.key}_frame"

    @property
    def frame_of_key(self) -> str:
        """Session key of the analysis (file, frame count, model) the explorer's frame belongs to."""
        return f"{self.key}_frame_of"

    @property
    def chart_key(self) -> str:
        return f"{self.key}_chart"

    def show(self, result: AnalysisResult, name: str, digest: str) -> None:
        """Fill the view.

        Args:
            result: the analysis (with Grad-CAM maps at ``self.layer``).
            name: the file's name, as the user knows it.
            digest: the file's sha256 (caches the preview per file).
        """
        card = card_of(result)
        self._verdict(result, name, card)
        self._select_default_frame(result, digest)
        if result.video.kind != "image":  # a still has no timeline: the explorer below shows it in full
            video_col, chart_col = st.columns([2, 3])
            with video_col:
                self._preview(result, digest)
            with chart_col:
                self._timeline(result)
        with st.container(border=True, key=f"{self.key}_explorer"):
            opacity = self._explorer(result)
        with st.container(key=f"{self.key}_gallery"):
            self._gallery(result, opacity)
        self._downloads(result, name, opacity, card)

    def _verdict(self, result: AnalysisResult, name: str, card: dict | None) -> None:
        vc = verdict_card(result, card)
        with st.container(border=True, key=self.verdict_key):
            c0, c1, c2 = st.columns([2, 1, 1])
            c0.markdown(f"## :{VERDICT_COLOURS[vc.verdict]}[{vc.label}] :gray-badge[{vc.evidence_note}]")
            c0.caption(name)
            c1.metric("Fake score", "–" if result.fake_probability is None else percent(result.fake_probability),
                      help=f"The clip's calibrated fake score. {thresholds_line(result.threshold, result.t_no_sign)}"
                           "; UNCERTAIN between.")
            c2.metric("Frames with a face", f"{result.n_faces} / {len(result.frames)}")
            st.markdown(f"**{vc.sentence}**")
            st.markdown(vc.score_line)
            for reason in vc.reasons:
                st.markdown(reason)
            for line in (vc.rarity, vc.error_rates):
                if line:
                    st.markdown(line)
            st.caption(f"Model {result.model_file or result.model_name} ({result.model_name}) · sha256 "
                       f"{result.model_sha256[:12]}… · dfcore {dfcore.__version__} · analysed {result.analysed_at}"
                       f" · {result.timings_s.get('total', 0.0):.2f} s")
            for note in result.notes:
                st.info(note)

    def _select_default_frame(self, result: AnalysisResult, digest: str) -> None:
        # Each new analysis (another file, frame count or model) opens on its most suspicious frame: a frame
        # number left over from the previous one points at another moment of another sampling. A new Grad-CAM
        # layer or opacity is the same analysis, so the frame the user chose stays.
        analysis = (digest, result.n_frames_requested, result.model_sha256)
        current = st.session_state.get(self.frame_key)
        if (st.session_state.get(self.frame_of_key) != analysis or not isinstance(current, int)
                or not 0 <= current < len(result.frames)):
            top = most_suspicious(result, 1)
            st.session_state[self.frame_key] = top[0] if top else 0
            st.session_state[self.frame_of_key] = analysis

    def _preview(self, result: AnalysisResult, digest: str) -> None:
        st.video(_preview_mp4(digest, len(result.frames), result.model_sha256, result), format="video/mp4",
                 autoplay=True, muted=True, loop=True)
        st.caption(f"The {len(result.frames)} analysed frames with the tracked face box, coloured by that frame's "
                   f"own fake score (red: at or above {percent(result.threshold)}, amber: between, green: below "
                   f"{percent(result.t_no_sign)}), replayed over {result.video.duration_s:.1f} s.")

    def _timeline(self, result: AnalysisResult) -> None:
        st.plotly_chart(timeline_figure(result, st.session_state[self.frame_key]), width="stretch",
                        key=self.chart_key, on_select=self._on_chart_select, selection_mode="points",
                        config={"displaylogo": False})
        st.caption(f"Each point is one frame's own fake score: red at or above {percent(result.threshold)} (FAKE), "
                   f"amber between, green below {percent(result.t_no_sign)} (NO SIGN). Click a point to open that "
                   "frame in the explorer. Crosses: frames without a face (not scored).")

    def _on_chart_select(self) -> None:
        event = st.session_state.get(self.chart_key)
        points = (event or {}).get("selection", {}).get("points", [])
        if points and points[0].get("customdata"):
            st.session_state[self.frame_key] = int(points[0]["customdata"][1])

    def _explorer(self, result: AnalysisResult) -> float:
        """The chosen frame in full, its face crop and Grad-CAM overlay; returns the overlay opacity."""
        st.subheader("Frame explorer")
        frames = result.frames
        frame_col, layer_col, opacity_col = st.columns([3, 1, 1])
        layer_col.selectbox("Grad-CAM layer", LAYERS, key=f"{self.key}_layer", help=layer_help(result.model_name),
                            format_func=lambda name: f"{name} ({LAYER_NOTES.get(name, '')})")
        opacity = opacity_col.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key=f"{self.key}_opacity")
        if len(frames) > 1:
            frame_col.select_slider(
                "Frame", options=list(range(len(frames))), key=self.frame_key,
                format_func=lambda i: f"#{frames[i].index} · {frames[i].time_s:.2f} s")
        i = st.session_state[self.frame_key]
        f = frames[i]
        score = "no face" if f.fake_probability is None else f"fake score {percent(f.fake_probability)}"
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.image(annotated_frame(result, i), caption=f"Frame {f.index} at {f.time_s:.2f} s · {score}", width="stretch")
        if result.crops[i] is None:
            c2.info("No face was found in this frame, so there is no crop or Grad-CAM map.")
            return opacity
        c2.image(result.crops[i], caption="Face crop (model input)", width="stretch")
        cam = cam_overlay(result, i, opacity)
        if cam is not None:
            c3.image(cam, caption=f"Grad-CAM, {result.cam_layer}", width="stretch")
        st.caption(f"Grad-CAM. {GRADCAM_NOTE}")
        return opacity

    def _gallery(self, result: AnalysisResult, opacity: float) -> None:
        top = most_suspicious(result, GALLERY_SIZE)
        if not top or not result.cams:
            return
        st.subheader("Most suspicious frames")
        st.caption(f"The frames with the highest fake scores, whatever the verdict. {GRADCAM_NOTE}")
        for col, i in zip(st.columns(GALLERY_SIZE), top):
            f = result.frames[i]
            col.image(cam_overlay(result, i, opacity), width="stretch",
                      caption=f"#{f.index} · {f.time_s:.2f} s · fake score {percent(f.fake_probability)}")

    def _downloads(self, result: AnalysisResult, name: str, opacity: float, card: dict | None) -> None:
        c1, c2, c3 = st.columns([1, 1, 2])
        c1.download_button("Download JSON", json.dumps(result.to_dict(), indent=2),
                           report_filename(name, result.verdict, "json"), mime="application/json",
                           key=f"{self.key}_json", on_click="ignore",
                           shortcut=JSON_RESULT.keys if self.shortcuts else None,
                           help="The same schema as `python -m dfcore analyze --json`: the file's name, size and "
                                "sha256, the model's, the time of the analysis (UTC) and every frame's score.")
        # Built only when asked for: the report inlines plotly.js (~4 MB) and PNGs of the top frames.
        c2.download_button("Download HTML report", lambda: html_report(result, name, opacity=opacity, card=card),
                           report_filename(name, result.verdict, "html"), mime="text/html", key=f"{self.key}_html",
                           on_click="ignore", shortcut=REPORT.keys if self.shortcuts else None,
                           help="One self-contained file: opens offline in any browser, and names the file "
                                "(sha256), the model and the time of the analysis.")
        with c3.expander("Timings and video details"):
            st.json({"timings_s": {k: round(v, 3) for k, v in result.timings_s.items()},
                     "video": result.to_dict()["video"]})


# Keyed by file, frame count and model (the boxes' colours come from the scores), not by layer or opacity.
@st.cache_data(show_spinner=False, max_entries=16)
def _preview_mp4(digest: str, n_frames: int, model_sha256: str, _result: AnalysisResult) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dflens-preview-") as tmp:
        return write_preview(_result, Path(tmp) / "preview.mp4").read_bytes()
