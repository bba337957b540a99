"""Showing an analysis: face boxes, Grad-CAM overlays, a playable preview and a self-contained HTML report.

Everything here works from an :class:`~dfcore.analyze.AnalysisResult` alone
(its sampled frames, crops and maps), so nothing is decoded twice. No UI code:
the dashboard and the CLI call these and show or save what they return.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..analyze import AnalysisResult
from ..decision import EVIDENCE_NOT_PROOF, percent
from ..models.explain import overlay
from .figures import FAKE_COLOUR, score_colour, timeline_figure
from .verdict_card import GRADCAM_NOTE, verdict_card, verdict_label
from ..vision.preprocessing import Box
from ..provenance import DECISION_RULE, base_name, utc_now
from ..media.video_writer import write_h264

# A preview made from the sampled frames plays at the clip's own pace (so a 10 s
# clip previews in about 10 s) but never slower than this, which would look frozen.
MIN_PREVIEW_FPS = 1.0
MAX_PREVIEW_FPS = 30.0
REPORT_FRAME_SIDE = 480  # full frames in the report are shrunk to this longer side: a report stays a few MB
REPORT_SUFFIX = "deepfake-lens"  # saved results are named CLIP.VERDICT.deepfake-lens.json / .html
RESULT_JSON_ID = "deepfake-lens-result"  # the id of the report's embedded copy of the JSON result


def report_filename(name: str, verdict: str, extension: str) -> str:
    """The file name a saved result gets: the clip's own name, the verdict, then the suffix.

    ``report_filename("clip.mp4", "FAKE", "json") == "clip.mp4.FAKE.deepfake-lens.json"``: the
    clip's name is kept whole (folders and control characters dropped) so the file can be matched to it.

    Args:
        name: the clip's file name as the user knows it.
        verdict: ``AnalysisResult.verdict``, the machine name ("FAKE", "UNCERTAIN", "NO_SIGN" or "NO_FACE").
        extension: "json" or "html".
    """
    base = "".join(c for c in base_name(name) if c.isprintable()).strip() or "clip"
    return f"{base}.{verdict}.{REPORT_SUFFIX}.{extension}"


def frame_colour(result: AnalysisResult, position: int) -> str:
    """A frame's colour by its own score: red at or above t_fake, amber between the thresholds, green below
    t_no_sign, grey without a face (:func:`dfcore.reporting.figures.score_colour`)."""
    return score_colour(result.frames[position].fake_probability, result.threshold, result.t_no_sign)


def draw_box(image_rgb: np.ndarray, box: Box | None, colour: str = FAKE_COLOUR) -> np.ndarray:
    """A copy of the image with the face box drawn (unchanged copy when there is no box)."""
    out = image_rgb.copy()
    if box is None:
        return out
    x, y, w, h = (int(round(v)) for v in box)
    thickness = max(2, round(max(out.shape[:2]) / 300))  # visible on a phone-sized preview of a 4K frame
    cv2.rectangle(out, (x, y), (x + w, y + h), _rgb(colour), thickness, cv2.LINE_AA)
    return out


def annotated_frame(result: AnalysisResult, position: int) -> np.ndarray:
    """Sampled frame ``position`` with the tracked face box, coloured by that frame's score."""
    return draw_box(result.images[position], result.frames[position].box, frame_colour(result, position))


def cam_overlay(result: AnalysisResult, position: int, opacity: float = 0.5) -> np.ndarray | None:
    """The face crop of frame ``position`` with its Grad-CAM map blended on; None without a map."""
    if not result.cams or result.cams[position] is None or result.crops[position] is None:
        return None
    return overlay(result.crops[position], result.cams[position], opacity)


def most_suspicious(result: AnalysisResult, k: int = 6) -> list[int]:
    """Positions of the ``k`` scored frames with the highest fake probability, highest first."""
    scored = [i for i, f in enumerate(result.frames) if f.fake_probability is not None]
    return sorted(scored, key=lambda i: result.frames[i].fake_probability, reverse=True)[:k]


def preview_fps(result: AnalysisResult) -> float:
    """The rate at which the sampled frames replay the clip in about its own duration."""
    if result.video.duration_s <= 0 or len(result.frames) < 2:
        return MIN_PREVIEW_FPS
    return float(np.clip(len(result.frames) / result.video.duration_s, MIN_PREVIEW_FPS, MAX_PREVIEW_FPS))


def write_preview(result: AnalysisResult, path: str | os.PathLike) -> Path:
    """A browser-playable H.264 clip of the analysed frames with the tracked face box drawn.

    Made from the frames the analysis already decoded, so it costs one small
    encode whatever the source codec (FaceForensics++'s 4:4:4 H.264 included,
    which browsers do not play) and however long the clip is.

    Args:
        result: an analysis of a video.
        path: the .mp4 to write.

    Returns:
        The path written.
    """
    frames = (annotated_frame(result, i) for i in range(len(result.frames)))
    return write_h264(frames, path, preview_fps(result), crf=26)


def png_data_uri(image_rgb: np.ndarray, max_side: int | None = None) -> str:
    """An RGB image as a ``data:image/png;base64,...`` URI, optionally shrunk first."""
    img = image_rgb
    if max_side and max(img.shape[:2]) > max_side:
        scale = max_side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def html_report(result: AnalysisResult, name: str, *, top_k: int = 6, opacity: float = 0.5,
                card: dict | None = None) -> str:
    """A self-contained HTML report of one analysis: opens offline, in any browser, from a single file.

    Holds the verdict card (label in its colour, "Evidence, not proof", the verdict's sentence, UNCERTAIN's
    reasons, the score's rarity in calibration and the model's measured error rates), the per-frame
    timeline (Plotly, its JavaScript inline), the most suspicious frames with their face boxes and Grad-CAM
    overlays as embedded PNGs, the notes, and what matches it to its video and model later: the file's
    name, size and sha256, the analysis time (UTC), the model's file, sha256 and version, the dfcore
    version, the frames analysed, both thresholds and the decision rule. The JSON result
    (``result.to_dict()``) is embedded too, in ``<script type="application/json" id="deepfake-lens-result">``.

    Args:
        result: an analysis (with Grad-CAM maps for the overlays; without, the frames are shown plain).
        name: the file name to show (the analysed path may be a temporary copy).
        top_k: how many of the most suspicious frames to include.
        opacity: Grad-CAM overlay opacity, 0-1.
        card: the analysing model's card, for its measured error rates (None: not stated).

    Returns:
        The HTML document.
    """
    e = html.escape
    vc = verdict_card(result, card)
    chart = timeline_figure(result).to_html(full_html=False, include_plotlyjs=True,
                                            config={"displaylogo": False, "responsive": True})
    v = result.video
    source = result.input_file
    rule = DECISION_RULE + (f". Threshold: {result.threshold_rule}" if result.threshold_rule else "")
    facts = [
        ("File", name),
        ("File size", f"{source.size_bytes:,} bytes" if source else "–"),
        ("File sha256", source.sha256 if source else "–"),
        ("Analysed at (UTC)", result.analysed_at or "–"),
        ("Verdict", vc.label if vc.label == vc.verdict else f"{vc.label} ({vc.verdict})"),
        ("Fake score", "–" if result.fake_probability is None else percent(result.fake_probability)),
        ("Thresholds", f"FAKE at or above {percent(result.threshold)}; NO SIGN below {percent(result.t_no_sign)}"
                       f"; UNCERTAIN between"),
        ("How the thresholds were set", result.decision_rule or "–"),
        ("Decision rule", rule),
        ("Frames with a face", f"{result.n_faces} of {len(result.frames)} analysed ({result.n_frames_requested} requested)"),
        ("Video", f"{v.width}×{v.height}, {v.fps:.2f} fps, {v.duration_s:.2f} s, {v.codec} ({v.kind})"),
        ("Model", f"{result.model_name} ({result.model_file or 'file not recorded'}), sha256 {result.model_sha256}"),
        ("Model version", ", ".join(f"{k}: {val}" for k, val in result.model_version.items()) or "–"),
        ("Grad-CAM layer", result.cam_layer or "–"),
        ("dfcore", __version__),
        ("Analysis took", f"{result.timings_s.get('total', 0.0):.2f} s"),
        ("Report made (UTC)", utc_now()),
    ]
    rows = "\n".join(f"<tr><th>{e(k)}</th><td>{e(str(val))}</td></tr>" for k, val in facts)
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    reasons = "".join(f'<p class="reason">{e(r)}</p>' for r in vc.reasons)
    extra = "".join(f'<p class="{cls}">{e(text)}</p>' for cls, text in (("rarity", vc.rarity),
                                                                         ("error-rates", vc.error_rates)) if text)
    cards = []
    for i in most_suspicious(result, top_k):
        f = result.frames[i]
        cam = cam_overlay(result, i, opacity)
        crop = result.crops[i]
        images = [f'<img src="{png_data_uri(annotated_frame(result, i), REPORT_FRAME_SIDE)}" alt="frame {f.index}">']
        if crop is not None:
            images.append(f'<img class="crop" src="{png_data_uri(crop)}" alt="face crop">')
        if cam is not None:
            images.append(f'<img class="crop" src="{png_data_uri(cam)}" alt="Grad-CAM overlay">')
        cards.append(f'<figure>{"".join(images)}<figcaption>frame {f.index} · t = {f.time_s:.2f} s · '
                     f'fake score {percent(f.fake_probability)}</figcaption></figure>')
    frames_html = "\n".join(cards) or "<p>No frame had a face, so there is nothing to explain.</p>"
    # "<" escaped, so no name in the data can close the script element.
    embedded = json.dumps(result.to_dict(), ensure_ascii=False).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Deepfake Lens report: {e(name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }}
.verdict-card {{ border: 2px solid {vc.colour}; border-radius: 8px; padding: .6rem 1rem; margin: 1rem 0; }}
.verdict-line {{ display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }}
.verdict {{ font-size: 2.4rem; font-weight: 700; color: {vc.colour}; margin: .2rem 0; }}
.evidence {{ font-size: .95rem; font-weight: 600; color: #555; border: 1px solid #bbb; border-radius: 1rem;
             padding: .1rem .6rem; }}
.sentence {{ font-size: 1.15rem; font-weight: 600; margin: .3rem 0; }}
.score {{ font-size: 1.05rem; }}
.reason, .rarity, .error-rates {{ margin: .3rem 0; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .25rem .8rem .25rem 0; vertical-align: top; }}
th {{ color: #555; font-weight: 600; }}
td {{ word-break: break-all; }}
.frames {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: .5rem; }}
figure img {{ height: 140px; margin-right: .3rem; }}
figure img.crop {{ width: 140px; }}
figcaption {{ font-size: .9rem; color: #444; }}
.disclaimer {{ color: #555; font-size: .9rem; border-top: 1px solid #ddd; padding-top: .8rem; margin-top: 2rem; }}
</style></head><body>
<h1>Deepfake Lens report</h1>
<p>{e(name)}</p>
<div class="verdict-card" data-verdict="{e(vc.verdict)}">
<div class="verdict-line"><div class="verdict">{e(vc.label)}</div><span class="evidence">{e(vc.evidence_note)}</span></div>
<p class="sentence">{e(vc.sentence)}</p>
<p class="score">{e(vc.score_line)}</p>
{reasons}{extra}
</div>
<table>{rows}</table>
{f"<ul>{notes}</ul>" if notes else ""}
<h2>Per-frame fake score</h2>
<p>Each point is one frame's own score: red at or above the FAKE threshold, amber between the two thresholds,
green below the NO SIGN threshold; crosses mark frames without a face (not scored).</p>
{chart}
<h2>Most suspicious frames</h2>
<p>The frames with the highest fake scores. Each: the frame with the tracked face box, the face crop the model
saw, and its Grad-CAM overlay. {e(GRADCAM_NOTE)}</p>
<div class="frames">{frames_html}</div>
<script type="application/json" id="{RESULT_JSON_ID}">{embedded}</script>
<p class="disclaimer">{e(EVIDENCE_NOT_PROOF)}: a detector's output is evidence, never proof. Use it together with
provenance checks and human judgement. Generated by Deepfake Lens (dfcore {e(__version__)}).</p>
</body></html>
"""


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


__all__ = [
    "verdict_label", "report_filename", "frame_colour", "draw_box", "annotated_frame", "cam_overlay",
    "most_suspicious", "preview_fps", "write_preview", "png_data_uri", "html_report",
]
