"""dfcore.decision: three verdicts from a score and its evidence, and how rare the score is."""

from __future__ import annotations

import pytest

from dfcore.decision import (
    FAKE, NO_FACE, NO_SIGN, UNCERTAIN, DecisionRule, ScorePool, Thresholds, decide, percent, rarity_sentence,
    thin_evidence,
)

VIDEO = Thresholds(0.8, 0.4)
IMAGE = Thresholds(0.6, 0.3)
POOL = ScorePool.from_dict({"a": {"real": [0.1, 0.2, 0.3, 0.9], "fake": [0.5, 0.95]},
                            "b": {"real": [0.05, 0.1], "fake": [0.85]}})
RULE = DecisionRule(VIDEO, IMAGE, POOL, None)
ENOUGH = {"n_frames": 20, "n_with_face": 20, "face_sides": [120.0] * 20}


@pytest.mark.parametrize("p, verdict", [(0.8, FAKE), (0.95, FAKE), (0.79, UNCERTAIN), (0.4, UNCERTAIN),
                                        (0.39, NO_SIGN), (0.0, NO_SIGN)])
def test_the_score_against_the_two_thresholds(p: float, verdict: str) -> None:
    d = decide(p, RULE, is_image=False, **ENOUGH)
    assert d.verdict == verdict
    assert d.reasons == (["between_thresholds"] if verdict == UNCERTAIN else [])


def test_no_face_is_its_own_verdict() -> None:
    assert decide(None, RULE, is_image=False, n_frames=20, n_with_face=0, face_sides=[]).verdict == NO_FACE


@pytest.mark.parametrize("n_with_face, sides, reasons", [
    (9, [120.0] * 9, ["face_in_few_frames"]),  # 9 of 20: under half
    (7, [120.0] * 7, ["face_in_few_frames", "few_face_frames"]),
    (20, [50.0] * 11 + [120.0] * 9, ["small_face"]),  # small in most frames
    (20, [50.0] * 10 + [120.0] * 10, []),  # small in half: not most
])
def test_thin_evidence_is_uncertain_whatever_the_score(n_with_face: int, sides: list[float], reasons: list[str]) -> None:
    assert thin_evidence(20, n_with_face, sides, is_image=False) == reasons
    d = decide(0.99, RULE, is_image=False, n_frames=20, n_with_face=n_with_face, face_sides=sides)
    assert d.verdict == (UNCERTAIN if reasons else FAKE)
    assert d.reasons == reasons
    assert len(d.sentences()) == len(reasons)


def test_fewer_than_eight_faces_of_ten_frames_is_thin() -> None:
    assert thin_evidence(10, 7, [100.0] * 7, is_image=False) == ["few_face_frames"]
    assert thin_evidence(10, 8, [100.0] * 8, is_image=False) == []


def test_an_image_is_judged_on_its_one_face_with_its_own_thresholds() -> None:
    d = decide(0.65, RULE, is_image=True, n_frames=1, n_with_face=1, face_sides=[100.0])
    assert d.verdict == FAKE  # a video at 0.65 would be UNCERTAIN
    assert decide(0.65, RULE, is_image=False, **ENOUGH).verdict == UNCERTAIN
    assert decide(0.65, RULE, is_image=True, n_frames=1, n_with_face=1, face_sides=[40.0]).reasons == ["small_face"]


def test_domains_weigh_equally_in_how_rare_a_score_is() -> None:
    # a: 1 of 4 reals at >= 0.9 (25%); b: 0 of 2 (0%) -> 12.5%. Fakes: a 1 of 2, b 1 of 1 at >= 0.85 -> 75%.
    assert POOL.share_at_or_above(0.9, "real") == pytest.approx(0.125)
    assert POOL.share_at_or_above(0.85, "fake") == pytest.approx(0.75)
    d = decide(0.9, RULE, is_image=False, **ENOUGH)
    assert (d.real_share, d.fake_share) == (pytest.approx(0.125), pytest.approx(0.5 * 0.5 + 0.5 * 0.0))
    assert rarity_sentence(d) == "12% of real videos in calibration score this high; 25% of fakes do."


def test_no_pool_no_rarity() -> None:
    d = decide(0.9, DecisionRule(VIDEO, IMAGE), is_image=False, **ENOUGH)
    assert d.real_share is None and rarity_sentence(d) is None


def test_a_checkpoint_with_one_threshold_has_no_band_and_says_so() -> None:
    rule = DecisionRule.from_checkpoint_info({}, 0.7)
    assert not rule.three_way and rule.video == rule.image == Thresholds(0.7, 0.7)
    assert decide(0.69, rule, is_image=False, **ENOUGH).verdict == NO_SIGN
    assert decide(0.7, rule, is_image=False, **ENOUGH).verdict == FAKE
    assert "one threshold" in rule.description


def test_the_rule_round_trips_through_a_checkpoint_record() -> None:
    t = Thresholds(0.8, 0.4, (0.7, 0.9), (0.3, 0.5))
    info = {"decision": {"video": t.to_dict(), "image": IMAGE.to_dict(), "rule": "how",
                         "video_scores": {"a": {"real": [0.3, 0.1], "fake": [0.9]}}, "image_scores": None}}
    rule = DecisionRule.from_checkpoint_info(info, 0.8)
    assert rule.video == t and rule.image == IMAGE and rule.description == "how" and rule.three_way
    assert rule.video_pool.scores["a"]["real"] == [0.1, 0.3] and rule.image_pool is None


@pytest.mark.parametrize("p, text", [(None, "n/a"), (0.0, "0%"), (0.004, "<1%"), (0.629, "63%"), (0.996, ">99%"),
                                     (1.0, "100%")])
def test_percent(p: float | None, text: str) -> None:
    assert percent(p) == text


def test_a_small_face_crop_is_judged_by_the_crops_rule() -> None:
    from dfcore.decision import is_face_crop

    rule = DecisionRule(VIDEO, IMAGE, POOL, None, crop=Thresholds(0.9, 0.5))
    one = {"n_frames": 1, "n_with_face": 1, "face_sides": [100.0]}
    assert decide(0.7, rule, is_image=True, is_crop=False, **one).verdict == FAKE  # a photo: FAKE at 0.6
    crop = decide(0.7, rule, is_image=True, is_crop=True, **one)
    assert crop.verdict == UNCERTAIN and crop.compared_with == "face crops"
    assert decide(0.7, DecisionRule(VIDEO, IMAGE), is_image=True, is_crop=True, **one).verdict == FAKE  # no crop rule
    assert is_face_crop(224, 224, (10, 5, 200, 210))  # the face fills the image: a crop
    assert not is_face_crop(640, 480, (200, 100, 200, 240)) and not is_face_crop(224, 224, None)
