"""What the dashboard shows, made by dfcore: figures, previews, the HTML report, and webcam recordings.

The analyses here use an UNTRAINED, randomly initialised checkpoint (plumbing
only); the one with a missing face is built by hand so the gap is certain.
"""

from __future__ import annotations

import base64
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dfcore import load_detector
from dfcore.analyze import AnalysisResult, FrameResult, analyze_video
from dfcore.decision import FAKE, NO_SIGN, UNCERTAIN, VERDICT_LABELS
from dfcore.reporting.figures import (
    FAKE_COLOUR,
    NEUTRAL_COLOUR,
    NO_SIGN_COLOUR,
    UNCERTAIN_COLOUR,
    card_curve,
    score_colour,
    speed_accuracy_figure,
    timeline_figure,
)
from dfcore.models.model_registry import card_path_for
from dfcore.reporting.report import (
    annotated_frame,
    cam_overlay,
    frame_colour,
    html_report,
    most_suspicious,
    preview_fps,
    write_preview,
)
from dfcore.media.video_io import VideoInfo, probe_video
from dfcore.media.video_writer import remux
from shown_verdicts import T_FAKE, T_NO_SIGN, made_result
from ui_fixtures import SAMPLES


@pytest.fixture(scope="module")
def result(untrained_weights: Path) -> AnalysisResult:
    det = load_detector(untrained_weights, device="cpu")
    return analyze_video(SAMPLES / "synthetic_fake_warp_astronaut.mp4", 10, detector=det, explain=True)


def with_a_gap(r: AnalysisResult) -> AnalysisResult:
    """The same analysis with frame 3's face removed (as if the detector had missed it)."""
    frames = list(r.frames)
    frames[3] = FrameResult(frames[3].index, frames[3].time_s, None, None)
    crops, cams = list(r.crops), list(r.cams)
    crops[3] = cams[3] = None
    return AnalysisResult(**{**r.__dict__, "frames": frames, "crops": crops, "cams": cams})


def test_timeline_has_gaps_threshold_and_clickable_frames(result):
    r = with_a_gap(result)
    fig = timeline_figure(r, selected=5)
    line = fig.data[0]
    assert line.y[3] is None and line.connectgaps is False, "no line through a frame without a face"
    assert [list(c) for c in line.customdata] == [[f.index, i] for i, f in enumerate(r.frames)]
    assert "frame %{customdata[0]}" in line.hovertemplate and "t = %{x" in line.hovertemplate
    missing = fig.data[1]
    assert missing.name == "no face" and list(missing.customdata[0]) == [r.frames[3].index, 3]
    shapes = fig.layout.shapes
    assert any(s.y0 == r.threshold == s.y1 for s in shapes), "threshold line"
    assert any(s.x0 == r.frames[5].time_s for s in shapes), "selected frame marked"
    assert fig.layout.yaxis.tickformat == ".0%" and "%{y:.0%}" in line.hovertemplate, "scores in percent"


@pytest.mark.parametrize("verdict", [FAKE, UNCERTAIN, NO_SIGN])
def test_timeline_colours_each_point_by_its_own_score_and_draws_both_thresholds(verdict):
    r = made_result(verdict)
    fig = timeline_figure(r)
    expected = [score_colour(f.fake_probability, T_FAKE, T_NO_SIGN) for f in r.frames]
    assert list(fig.data[0].marker.color) == expected
    # Whatever the clip's verdict: red at or above t_fake, amber between, green below t_no_sign.
    by_score = {f.fake_probability: c for f, c in zip(r.frames, expected) if f.fake_probability is not None}
    assert by_score == {0.93: FAKE_COLOUR, 0.6: UNCERTAIN_COLOUR, 0.2: NO_SIGN_COLOUR}
    lines = {s.y0: s.line.color for s in fig.layout.shapes if s.y0 == s.y1}
    assert lines == {T_FAKE: FAKE_COLOUR, T_NO_SIGN: NO_SIGN_COLOUR}
    labels = [(a.text, a.xref, a.x, a.xanchor) for a in fig.layout.annotations]
    assert labels == [("FAKE at ≥ 84%", "x domain", 1, "left"), ("NO SIGN below 40%", "x domain", 1, "left")], \
        "named in the right margin, not over the points"
    assert [frame_colour(r, i) for i in range(len(r.frames))] == [
        c if f.fake_probability is not None else NEUTRAL_COLOUR for f, c in zip(r.frames, expected)]


def test_most_suspicious_and_overlays(result):
    r = with_a_gap(result)
    top = most_suspicious(r, 4)
    probs = [r.frames[i].fake_probability for i in top]
    assert 3 not in top and probs == sorted(probs, reverse=True) and len(top) == 4
    assert cam_overlay(r, 3) is None
    assert cam_overlay(r, top[0], 0.5).shape == r.crops[top[0]].shape
    boxed = annotated_frame(r, top[0])
    assert boxed.shape == r.images[top[0]].shape and not np.array_equal(boxed, r.images[top[0]])
    assert np.array_equal(annotated_frame(r, 3), r.images[3]), "no box where there is no face"


def test_preview_is_browser_playable_h264(result, tmp_path):
    path = write_preview(result, tmp_path / "preview.mp4")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
        n = sum(1 for _ in c.decode(s))
    assert n == len(result.frames)
    # Replays the 4 s clip in about 4 s.
    assert preview_fps(result) == pytest.approx(len(result.frames) / result.video.duration_s)


def test_html_report_is_self_contained(result):
    html = html_report(with_a_gap(result), "my <clip>.mp4", top_k=3)
    assert "my &lt;clip&gt;.mp4" in html and "<clip>" not in html, "names are escaped"
    assert VERDICT_LABELS[result.verdict] in html and result.model_sha256 in html
    assert "towards REAL" not in html and ">REAL<" not in html, "no verdict REAL any more"
    assert "dfcore 0." in html or "dfcore</th><td>0." in html
    assert not re.search(r"<script[^>]+src=", html) and not re.search(r"<link[^>]+href=", html), "nothing external"
    assert "Plotly.newPlot" in html
    pngs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(pngs) == 3 * 3, "frame, crop and Grad-CAM overlay for each of the top 3 frames"
    assert base64.b64decode(pngs[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_faces_says_so(result):
    info = VideoInfo("x.mp4", "video", 64, 48, 10.0, 10, 1.0, "h264")
    empty = AnalysisResult("x.mp4", "NO_FACE", None, 0.5, 2, [FrameResult(0, 0.0, None, None),
                           FrameResult(5, 0.5, None, None)], info, {"total": 0.1}, "m", "abc",
                           images=[np.zeros((48, 64, 3), np.uint8)] * 2, crops=[None, None], cams=None)
    html = html_report(empty, "x.mp4")
    assert "NO FACE" in html and "nothing to explain" in html


def test_speed_figure_reads_the_cards_and_marks_the_setting(weights_with_card):
    card = json.loads(card_path_for(weights_with_card).read_text())
    counts, auc = card_curve(card, "auc")
    assert counts == [10, 20, 40, 60, 80, 100]
    assert auc == [card["metrics"]["ffpp_c23_val"]["by_frames"][str(k)]["auc"] for k in counts]
    other = json.loads(json.dumps(card))
    for row in other["metrics"]["ffpp_c23_val"]["by_frames"].values():
        row["seconds_per_video"] /= 2
    fig = speed_accuracy_figure({"a": card, "b": other}, 40, {10: 0.2, 20: 0.3}, "measured")
    # One AUC trace (left) and one seconds trace (right) per model, then the measured one.
    assert [(d.name, d.xaxis) for d in fig.data] == [("a", "x"), ("a", "x2"), ("b", "x"), ("b", "x2"),
                                                     ("measured", "x2")]
    assert list(fig.data[0].y) == auc and list(fig.data[2].y) == auc
    assert list(fig.data[3].y) == [s / 2 for s in card_curve(card, "seconds_per_video")[1]]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[-1].y) == [0.2, 0.3]
    assert sum(1 for s in fig.layout.shapes if s.x0 == 40) == 2, "the frame count is marked on both panels"
    assert len(speed_accuracy_figure({}, 20).data) == 0, "no card: no curves, nothing invented"


def test_speed_figure_draws_the_cards_auc_intervals(weights_with_card):
    card = json.loads(card_path_for(weights_with_card).read_text())
    _, auc = card_curve(card, "auc")
    _, low = card_curve(card, "auc_ci_low")
    _, high = card_curve(card, "auc_ci_high")
    fig = speed_accuracy_figure({"a": card}, 20)
    bars = fig.data[0].error_y
    assert list(bars.array) == pytest.approx([h - a for a, h in zip(auc, high)])
    assert list(bars.arrayminus) == pytest.approx([a - lo for a, lo in zip(auc, low)])
    assert "95% interval" in fig.layout.annotations[0].text
    # A card written before the intervals: no bars, and the title does not promise them.
    old = json.loads(json.dumps(card))
    for row in old["metrics"]["ffpp_c23_val"]["by_frames"].values():
        del row["auc_ci_low"], row["auc_ci_high"]
    fig = speed_accuracy_figure({"a": old}, 20)
    assert fig.data[0].error_y.array is None
    assert "interval" not in fig.layout.annotations[0].text


def live_webm(path: Path, seconds: float = 2.0, fps: int = 20) -> Path:
    """A WebM written as a live stream, like a browser's MediaRecorder: no duration in the header."""
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as c:
        s = c.add_stream("libvpx", rate=fps)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i in range(int(seconds * fps)):
            f = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 3, np.uint8), format="rgb24")
            f.pts, f.time_base = i * 1000 // fps, Fraction(1, 1000)
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def test_remux_gives_a_browser_recording_its_duration(tmp_path):
    src = live_webm(tmp_path / "rec.webm")
    assert probe_video(src).duration_s == 0.0
    fixed = probe_video(remux(src, tmp_path / "fixed.webm"))
    assert fixed.duration_s == pytest.approx(2.0, abs=0.1) and fixed.codec == "vp8"


def test_decode_recording(tmp_path):
    from ui.webcam_recorder import RecordingError, decode_recording

    data = live_webm(tmp_path / "rec.webm").read_bytes()
    rec = decode_recording({"b64": base64.b64encode(data).decode(), "mime": "video/webm;codecs=vp8"})
    assert rec.suffix == ".webm"
    out = tmp_path / "out.webm"
    out.write_bytes(rec.data)
    assert probe_video(out).duration_s == pytest.approx(2.0, abs=0.1)
    for bad in ({"b64": "%%%"}, {"b64": ""}, {"b64": base64.b64encode(b"junk" * 10).decode()}):
        with pytest.raises(RecordingError):
            decode_recording(bad)
