"""Analyses built by hand, one per verdict, for testing how a verdict is shown (the dashboard's result view, the
HTML report), not how it is reached.

No model runs: the frames are flat images, the crops and Grad-CAM maps noise. The verdict, UNCERTAIN's reasons and
the rarity shares come from :func:`dfcore.decision.decide` itself, with a rule and a calibration pool made here, so
they are what the real rule gives for that score and evidence, not typed in. The frame scores put a point in each
band of the timeline (red, amber, green) and leave one frame in four without a face. No pytest import:
``tests/verdict_page.py`` (a Streamlit script the browser test serves) builds its results here too.
"""

from __future__ import annotations

import numpy as np

from dfcore.analyze import AnalysisResult, FrameResult
from dfcore.decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, DecisionRule, ScorePool, Thresholds, decide
from dfcore.media.video_io import VideoInfo
from dfcore.provenance import InputFile

T_FAKE, T_NO_SIGN = 0.84, 0.40  # the made-up model's thresholds
# A calibration pool of 20 reals and 20 fakes in one domain: the rarity shares are twentieths.
POOL = ScorePool.from_dict({"test": {"real": [i / 25 for i in range(20)], "fake": [0.2 + i / 25 for i in range(20)]}})
RULE = DecisionRule(Thresholds(T_FAKE, T_NO_SIGN), Thresholds(T_FAKE, T_NO_SIGN), POOL, POOL,
                    description="made by hand for a test")
SCORES = {FAKE: 0.91, UNCERTAIN: 0.63, NO_SIGN: 0.18, NO_FACE: None}  # a clip score that gives each verdict
MODEL_SHA256 = "ab" * 32  # the made-up checkpoint's sha256 (a card with this sha256 describes it)
FRAME_SCORES = (0.93, 0.6, 0.2, None)  # one frame per band and one without a face, repeated
N_FRAMES = 12
SIDE = 96  # frame and crop side in pixels; the face box is 80 px (large enough to judge)
BOX = (8.0, 8.0, 80.0, 80.0)


def made_result(verdict: str, *, thin: bool = False, name: str = "clip.mp4") -> AnalysisResult:
    """A hand-made video analysis whose rule gives ``verdict``.

    Args:
        verdict: one of FAKE, UNCERTAIN, NO_SIGN, NO_FACE.
        thin: the face found in only 3 frames (UNCERTAIN for thin evidence, whatever the score); pass
            ``verdict=UNCERTAIN`` with it.
        name: the file name the result records.
    """
    p = SCORES[verdict]
    rng = np.random.default_rng(0)
    frames, images, crops, cams = [], [], [], []
    for i in range(N_FRAMES):
        if p is None:
            score = None
        elif thin:
            score = FRAME_SCORES[i] if i < 3 else None
        else:
            score = FRAME_SCORES[i % len(FRAME_SCORES)]
        box = BOX if score is not None else None
        frames.append(FrameResult(i * 3, i * 0.2, box, score))
        images.append(np.full((SIDE, SIDE, 3), 40 + 15 * i, np.uint8))
        crops.append(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8) if box else None)
        cams.append(rng.random((SIDE, SIDE)).astype(np.float32) if box else None)
    with_face = [f for f in frames if f.box is not None]
    decision = decide(p, RULE, is_image=False, n_frames=N_FRAMES, n_with_face=len(with_face),
                      face_sides=[BOX[2]] * len(with_face))
    assert decision.verdict == verdict, (decision, verdict)
    info = VideoInfo(name, "video", SIDE, SIDE, 15.0, N_FRAMES * 3, N_FRAMES * 0.2, "h264")
    return AnalysisResult(
        path=name, verdict=verdict, fake_probability=p, threshold=T_FAKE, n_frames_requested=N_FRAMES,
        frames=frames, video=info, timings_s={"total": 0.5}, model_name="made_by_hand", model_sha256=MODEL_SHA256,
        images=images, crops=crops, cams=cams if with_face else None, cam_layer="layer4" if with_face else None,
        input_file=InputFile(name, 1234, "cd" * 32), analysed_at="2026-12-04T12:00:00Z", model_file="made.pt",
        threshold_no_sign=T_NO_SIGN, decision=decision, decision_rule=RULE.description,
    )


def error_rates_card() -> dict:
    """A model card (only what the verdict card reads) whose measured error rates are invented for the test."""
    return {"sha256": MODEL_SHA256, "error_rates": {
        "frames": 20, "false_alarm": 0.03, "false_alarm_ci": [0.01, 0.08], "miss": 0.09, "miss_ci": [0.04, 0.15],
        "fakes_called_fake": 0.6, "fakes_called_fake_ci": [0.5, 0.7], "n_real": 60, "n_fake": 60,
        "where": "our validation clips"}}
