"""Plotly figures of an analysis and of the model card, shared by the dashboard and the HTML report.

Built here rather than in the pages so the chart a user sees in the app and
the one in a downloaded report are the same figure, made by one function.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analyze import AnalysisResult
from ..decision import percent

FAKE_COLOUR = "#d64545"  # red: FAKE, and a frame scored at or above t_fake
UNCERTAIN_COLOUR = "#e08a00"  # amber: UNCERTAIN, and a frame scored between the two thresholds
NO_SIGN_COLOUR = "#2e8b57"  # green: NO SIGN FOUND, and a frame scored below t_no_sign
NEUTRAL_COLOUR = "#8a8a8a"  # grey: NO FACE, frames without a face, guide lines
MEASURED_COLOUR = "#ff7f0e"
MODEL_COLOURS = ("#1f77b4", "#9467bd", "#17becf", "#8c564b")  # one per model on the speed/accuracy chart
PERCENT_AXIS = {"tickformat": ".0%", "range": [-0.03, 1.03]}  # probabilities drawn in percent, as shown everywhere


def score_colour(p: float | None, t_fake: float, t_no_sign: float) -> str:
    """A score's colour against the two thresholds: red at or above ``t_fake``, green below ``t_no_sign``, amber
    between them, grey for no score."""
    if p is None:
        return NEUTRAL_COLOUR
    if p >= t_fake:
        return FAKE_COLOUR
    return NO_SIGN_COLOUR if p < t_no_sign else UNCERTAIN_COLOUR


def timeline_figure(result: AnalysisResult, selected: int | None = None) -> go.Figure:
    """Per-frame fake score against time: each point coloured by its own score against both thresholds,
    both thresholds drawn, the y axis in percent, and the frames without a face marked.

    Args:
        result: an analysis.
        selected: position (in ``result.frames``) of a frame to mark with a vertical line.

    Returns:
        A figure whose points carry ``customdata = [frame index, position in result.frames]``,
        so a click on any point (scored or not) identifies the frame.
    """
    frames = result.frames
    positions = list(range(len(frames)))
    t_fake, t_no_sign = result.threshold, result.t_no_sign
    fig = go.Figure()
    # One trace over every frame, with None where no face was found: Plotly leaves
    # a gap there instead of drawing a line through frames that were not scored.
    fig.add_trace(go.Scatter(
        x=[f.time_s for f in frames], y=[f.fake_probability for f in frames],
        mode="lines+markers", connectgaps=False, name="fake score (frame)",
        line={"color": NEUTRAL_COLOUR, "width": 1},
        marker={"color": [score_colour(f.fake_probability, t_fake, t_no_sign) for f in frames], "size": 9},
        customdata=[[f.index, i] for i, f in zip(positions, frames)],
        hovertemplate="frame %{customdata[0]}<br>t = %{x:.2f} s<br>fake score %{y:.0%}<extra></extra>",
    ))
    missing = [i for i, f in enumerate(frames) if f.fake_probability is None]
    if missing:
        fig.add_trace(go.Scatter(
            x=[frames[i].time_s for i in missing], y=[0.0] * len(missing), mode="markers", name="no face",
            marker={"symbol": "x-thin-open", "size": 10, "color": NEUTRAL_COLOUR, "line": {"width": 2}},
            customdata=[[frames[i].index, i] for i in missing],
            hovertemplate="frame %{customdata[0]}<br>t = %{x:.2f} s<br>no face<extra></extra>",
        ))
    # The lines' labels sit in the right margin, never over the points (a label over a point would take its click).
    label = {"annotation_position": "right", "annotation_font_size": 11}
    if t_no_sign == t_fake:  # a one-threshold model: one line is both
        fig.add_hline(y=t_fake, line_dash="dash", line_color=FAKE_COLOUR, **label,
                      annotation_text=f"FAKE at ≥ {percent(t_fake)},<br>NO SIGN below")
    else:
        fig.add_hline(y=t_fake, line_dash="dash", line_color=FAKE_COLOUR, **label, annotation_yanchor="bottom",
                      annotation_text=f"FAKE at ≥ {percent(t_fake)}")
        fig.add_hline(y=t_no_sign, line_dash="dash", line_color=NO_SIGN_COLOUR, **label, annotation_yanchor="top",
                      annotation_text=f"NO SIGN below {percent(t_no_sign)}")
    if selected is not None and 0 <= selected < len(frames):
        fig.add_vline(x=frames[selected].time_s, line_color=NEUTRAL_COLOUR, line_width=1)
    fig.update_layout(
        xaxis_title="time in the clip (s)", yaxis_title="fake score", yaxis=PERCENT_AXIS,
        height=320, margin={"l": 60, "r": 115, "t": 30, "b": 50}, hovermode="closest", showlegend=bool(missing),
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def card_curve(card: dict, metric: str, dataset: str = "ffpp_c23_val") -> tuple[list[int], list[float | None]]:
    """One measured metric against the number of frames, from the model card's ``metrics`` section.

    Args:
        card: a model card (``weights/NAME.card.json``).
        metric: a key of the card's per-frame-count rows, e.g. "auc", "accuracy", "seconds_per_video".
        dataset: the card's metrics section to read.

    Returns:
        Frame counts (ascending) and the metric at each (None where the card has no value).
    """
    by_frames = card.get("metrics", {}).get(dataset, {}).get("by_frames", {})
    counts = sorted(int(k) for k in by_frames)
    return counts, [by_frames[str(k)].get(metric) for k in counts]


def auc_error_bars(card: dict) -> dict | None:
    """Plotly ``error_y`` for a card's AUC curve from its 95% intervals; None unless every point has one (cards
    written before the intervals), so no half-drawn bars."""
    auc, low, high = (card_curve(card, metric)[1] for metric in ("auc", "auc_ci_low", "auc_ci_high"))
    if not auc or any(v is None for v in (*auc, *low, *high)):
        return None
    return {"type": "data", "symmetric": False, "array": [h - a for a, h in zip(auc, high)],
            "arrayminus": [a - lo for a, lo in zip(auc, low)], "thickness": 1, "width": 3}


def speed_accuracy_figure(cards: Mapping[str, dict], current_frames: int | None = None,
                          measured: dict[int, float] | None = None,
                          measured_label: str = "this clip, this machine") -> go.Figure:
    """Each model card's AUC and seconds per video against frames analysed, side by side, one trace per model.

    Args:
        cards: model name -> its card, in the order to draw them (a model without a card is left out).
        current_frames: the frame count in use, marked on both panels.
        measured: seconds per analysis timed on this machine, by frame count, drawn
            next to the cards' measured seconds per video.
        measured_label: the legend name of the ``measured`` trace.

    Returns:
        A two-panel figure.
    """
    bars = {name: auc_error_bars(card) for name, card in cards.items()}
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "AUC on the validation split (FF++ c23, per video" + ("; bars: 95% interval)" if any(bars.values()) else ")"),
        "Seconds per video"))
    for i, (name, card) in enumerate(cards.items()):
        colour = MODEL_COLOURS[i % len(MODEL_COLOURS)]
        where = card.get("evaluation", {}).get("machine", "the evaluation machine")
        x, y = card_curve(card, "auc")
        hover = f"{name}: AUC %{{y:.3f}} at %{{x}} frames"
        if bars[name]:
            hover += " (95% interval %{customdata[0]:.2f}–%{customdata[1]:.2f})"
        interval = list(zip(card_curve(card, "auc_ci_low")[1], card_curve(card, "auc_ci_high")[1]))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name,
                                 line={"color": colour}, error_y=bars[name],
                                 customdata=interval if bars[name] else None,
                                 hovertemplate=hover + "<extra></extra>"), row=1, col=1)
        x, y = card_curve(card, "seconds_per_video")
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name, showlegend=False,
                                 line={"color": colour},
                                 hovertemplate=f"{name}: %{{y:.2f}} s at %{{x}} frames<extra>{where}</extra>"),
                      row=1, col=2)
    if measured:
        mx = sorted(measured)
        fig.add_trace(go.Scatter(x=mx, y=[measured[k] for k in mx], mode="lines+markers",
                                 name=measured_label, line={"color": MEASURED_COLOUR, "dash": "dot"},
                                 hovertemplate="%{y:.2f} s at %{x} frames<extra>measured now</extra>"), row=1, col=2)
    if current_frames is not None:
        for col in (1, 2):
            fig.add_vline(x=current_frames, line_dash="dash", line_color=NEUTRAL_COLOUR, row=1, col=col,
                          annotation_text=f"{current_frames} frames", annotation_position="top right")
    fig.update_xaxes(title_text="frames analysed")
    fig.update_yaxes(title_text="AUC", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="seconds", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0})
    return fig


def reliability_figure(bins: list[dict]) -> go.Figure:
    """A reliability diagram from the card's calibration bins (mean predicted vs fraction fake)."""
    used = [b for b in bins if b.get("count")]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line={"dash": "dash", "color": NEUTRAL_COLOUR}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=[b["mean_predicted"] for b in used], y=[b["fraction_fake"] for b in used], mode="lines+markers",
        name="model", customdata=[b["count"] for b in used],
        hovertemplate="predicted %{x:.2f}<br>fraction fake %{y:.2f}<br>%{customdata} videos<extra></extra>",
    ))
    fig.update_layout(xaxis_title="mean predicted fake probability", yaxis_title="fraction actually fake",
                      xaxis_range=[0, 1], yaxis_range=[0, 1], height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


__all__ = ["score_colour", "timeline_figure", "card_curve", "auc_error_bars", "speed_accuracy_figure", "reliability_figure"]
