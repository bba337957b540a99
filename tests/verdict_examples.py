"""Analysis results built by hand, one per verdict, for the tests of what each surface shows.

The untrained test checkpoint cannot be steered to a chosen verdict, so these
results are made from a known decision rule with :func:`dfcore.decision.decide`
itself: the verdict, its reasons and the rarity shares are the ones the real
rule gives for that score and evidence, not typed in.
"""

from __future__ import annotations

from dfcore.analyze import AnalysisResult, FrameResult
from dfcore.decision import (
    FAKE,
    NO_FACE,
    NO_SIGN,
    UNCERTAIN,
    DecisionRule,
    ScorePool,
    Thresholds,
    decide,
)
from dfcore.media.video_io import VideoInfo

T_FAKE, T_NO_SIGN = 0.7, 0.3  # the rule's two thresholds
# A calibration pool of ten reals and ten fakes in one domain: the shares are tenths.
POOL = ScorePool.from_dict({"test": {"real": [i / 20 for i in range(10)], "fake": [0.5 + i / 20 for i in range(10)]}})
RULE = DecisionRule(Thresholds(T_FAKE, T_NO_SIGN), Thresholds(T_FAKE, T_NO_SIGN), POOL, POOL,
                    description="set by the test")
SCORES = {FAKE: 0.9, UNCERTAIN: 0.5, NO_SIGN: 0.1, NO_FACE: None}  # a score that gives each verdict
N_FRAMES = 20
FACE_SIDE = 120  # pixels: large enough to judge


def make_result(verdict: str, path: str = "clip.mp4") -> AnalysisResult:
    """A 20-frame video result with ``verdict`` (UNCERTAIN: the score between the thresholds)."""
    p = SCORES[verdict]
    decision = decide(p, RULE, is_image=False, n_frames=N_FRAMES, n_with_face=0 if p is None else N_FRAMES,
                      face_sides=[] if p is None else [FACE_SIDE] * N_FRAMES)
    assert decision.verdict == verdict, decision
    box = None if p is None else (100, 80, FACE_SIDE, FACE_SIDE)
    return AnalysisResult(
        path=path, verdict=verdict, fake_probability=p, threshold=T_FAKE, n_frames_requested=N_FRAMES,
        frames=[FrameResult(i * 10, i * 0.4, box, p) for i in range(N_FRAMES)],
        video=VideoInfo(path, "video", 640, 480, 25.0, 200, 8.0, "h264"),
        timings_s={"decode": 0.1, "detect": 0.1, "crop": 0.0, "model": 0.1, "total": 0.3},
        model_name="resnext_compact_lstm", model_sha256="0" * 64, threshold_no_sign=T_NO_SIGN, decision=decision,
        decision_rule=RULE.description)
