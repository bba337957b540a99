"""dfcore.evaluation.card: the model card built from (hand-made) evaluation results, rendered to Markdown, and the default rule.

The detector is an in-memory, randomly initialised tiny model: only its metadata
(threshold, temperatures, hash, training info) reaches the card. The evaluation
numbers come from hand-chosen scores, so the expected table cells can be worked
out by hand.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import torch

from dfcore.evaluation.verdict_validation import verdict_validation
from dfcore.evaluation.card import (
    DATA_TERMS,
    DEFAULT_RULE_FRAMES,
    INTERVAL_NOTE,
    LIMITATIONS,
    LOO_METHOD,
    STUDENT,
    TEACHER,
    SUCCESSOR_KEEP,
    SUCCESSOR_TH_GAIN,
    _card,
    choose_default,
    record_default,
    successor_check,
    data_config_of,
    leave_one_out_items,
    render_markdown,
)
from dfcore.models.checkpoint import Checkpoint
from dfcore.training.sources.items import LabelledItem
from dfcore.models.detector import Detector
from dfcore.evaluation.evaluate import VideoScores, auc_change_with_frames, summarize_by_frames
from dfcore.models.model import create_model
from dfcore.vision.preprocessing import PreprocessConfig
from dfcore.training.recipe import DataConfig, RunConfig
from dfcore.training.sources.splits import trained_data_config
from dfcore.training.train import jsonable

THRESHOLD = 0.42
SHA = "ab" * 32
TINY = {"stem_width": 8, "stage_planes": (4, 8, 8, 8), "stage_blocks": (1, 1, 1, 1), "cardinality": 4,
        "lstm_hidden": 8}
LOO = {
    "method": LOO_METHOD, "checkpoint": "weights/loo/held_out.pt", "sha256": "cd" * 32,
    "recipe": "the teacher's recipe, shorter, with every FaceSwap clip left out of training",
    "scored_on": "all 12 FaceSwap clips against the 20 real clips of the calibration and test splits",
    "frames": 20, "auc": 0.6875, "frame_auc": 0.61, "n_scored": 32,
}


def _videos() -> list[VideoScores]:
    """FF++-like: at 10 frames reals score 0.2, 0.6 and fakes 0.7, 0.4 (AUC 3/4, accuracy 1/2 at 0.42;
    one real of two called FAKE, one fake of two caught); at 40 frames the ranking is perfect
    (0.1, 0.3 vs 0.8, 0.9, 0.95: no real called FAKE, every fake caught). One more clip has no face at 10 frames."""
    def v(path, label, s10, s40):
        return VideoScores(path, label, {"10": s10, "40": s40},
                           {"10": [] if s10 is None else [s10, s10], "40": [s40] * 3},
                           {"10": 0.5, "40": 1.5})
    return [v("r1.mp4", "real", 0.2, 0.1), v("r2.mp4", "real", 0.6, 0.3),
            v("f1.mp4", "fake", 0.7, 0.8), v("f2.mp4", "fake", 0.4, 0.9),
            v("f3.mp4", "fake", None, 0.95)]


def _dfdc_videos() -> list[VideoScores]:
    # Reals 0.1, 0.5; fakes 0.3, 0.9 -> AUC 3/4.
    return [VideoScores(p, lab, {"1": s}, {"1": [s]}, {"1": 0.2})
            for p, lab, s in (("a.jpg", "real", 0.1), ("b.jpg", "real", 0.5), ("c.jpg", "fake", 0.3),
                              ("d.jpg", "fake", 0.9))]


def _run_config() -> RunConfig:
    return RunConfig(name="test_model", model_name="resnext_compact_lstm", input_size=112, mean=(0.5, 0.5, 0.5),
                     std=(0.25, 0.25, 0.25), frame_steps=10, lr=1e-3, teacher="weights/teacher.pt")


def _info() -> dict:
    """What train_run and calibrate_checkpoint store in a checkpoint's info."""
    return {
        "trained_on": {
            "datasets": ["FaceForensics++ c23 (Rossler et al., ICCV 2019)", "DFDC face crops (Dolhansky et al., 2020)"],
            "terms": "research use only; the data is not redistributed with this project",
            "split": "identity-disjoint train / calibration / test",
            "sizes": {"ffpp_train": 80, "ffpp_calib": 20, "ffpp_test": 26},
            "synthesised": "self-blended pseudo-fakes (dfcore.synth.blend) of real training faces",
            "pretrained": None,
            "distilled_from": "weights/teacher.pt",
        },
        "run_config": jsonable(_run_config()),
        "data_config": jsonable(DataConfig(seed=7, test_fraction_ffpp=0.3)),
        "command": "make train  (python -m dfcore train --data ../shared/data)",
        "crop_extraction_s": 120.5,
        "training_s": 4321.0,
        "frame_stage_s": 4000.0,
        "clip_stage_s": 321.0,
        "monitoring_history": [{"step": 200, "ffpp_calib_frame_auc": 0.8, "dfdc_calib_frame_auc": 0.7}],
        "machine": "x86_64, 2 CPU cores",
        "teacher": "weights/teacher.pt",
        "calibration": {"method": "clip: Platt scaling", "split_clips": {"real": 20, "fake": 40},
                        "temperature": 1.7, "bias": -0.25, "frame_temperature": 1.3, "threshold": THRESHOLD,
                        "calibration_real_called_fake": 0.05, "calibration_fakes_caught": 0.8},
        "threshold_rule": "at most 5% of the calibration split's real clips called FAKE",
    }


@pytest.fixture(scope="module")
def detector() -> Detector:
    torch.manual_seed(0)
    model = create_model("resnext_compact_lstm", **TINY).eval()
    ck = Checkpoint(model, "resnext_compact_lstm", PreprocessConfig(), threshold=THRESHOLD, temperature=1.7,
                    bias=-0.25, frame_temperature=1.3, sha256=SHA, path="weights/test_model.pt", info=_info())
    return Detector(ck, device="cpu")


def _reports() -> tuple[dict, dict]:
    ffpp = {"by_frames": summarize_by_frames(_videos(), (10, 40), THRESHOLD),
            "auc_change": auc_change_with_frames(_videos(), (10, 40))}
    dfdc = {"by_frames": summarize_by_frames(_dfdc_videos(), (1,), THRESHOLD)}
    return ffpp, dfdc


def _validation(det: Detector) -> dict:
    return verdict_validation({"ffpp": _videos()}, {"dfdc": _dfdc_videos()}, det.rule, (10, 40))


@pytest.fixture(scope="module")
def card(detector: Detector) -> dict:
    ffpp, dfdc = _reports()
    return _card(detector, DataConfig(), {"ffpp": ffpp, "dfdc": dfdc}, _validation(detector),
                 {"ffpp_test": "runs/card/splits/ffpp_test.csv"}, LOO)


def _row(md: str, frames: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith(f"| {frames} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_card_structure_and_json(card: dict) -> None:
    json.dumps(card)  # the card is written as JSON as is
    assert card["name"] == "test_model"
    assert card["sha256"] == SHA
    assert card["file"] == "test_model.pt"  # named after the checkpoint actually evaluated
    assert card["decision"]["threshold"] == THRESHOLD
    assert card["decision"]["temperature"] == 1.7 and card["decision"]["frame_temperature"] == 1.3
    assert card["decision"]["bias"] == -0.25
    assert card["decision"]["calibration_real_called_fake"] == 0.05
    assert card["decision"]["calibration_fakes_caught"] == 0.8
    assert card["decision"]["calibration_split_clips"] == {"real": 20, "fake": 40}
    assert card["data_terms"] == DATA_TERMS
    by10 = card["metrics"]["ffpp_c23_val"]["by_frames"]["10"]
    assert "reliability" not in by10  # kept under "calibration" instead
    assert by10["auc"] == pytest.approx(0.75) and by10["accuracy"] == pytest.approx(0.5)
    assert by10["auc_ci_low"] < by10["auc"] < by10["auc_ci_high"]
    assert by10["frame_auc_ci_low"] <= by10["frame_auc"] <= by10["frame_auc_ci_high"]
    assert by10["real_called_fake"] == pytest.approx(0.5) and by10["fakes_caught"] == pytest.approx(0.5)
    assert (by10["n_scored"], by10["n_no_face"]) == (4, 1)
    by40 = card["metrics"]["ffpp_c23_val"]["by_frames"]["40"]
    assert by40["real_called_fake"] == 0.0 and by40["fakes_caught"] == 1.0
    assert card["metrics"]["leave_one_method_out"] == LOO
    assert card["calibration"]["ffpp_c23_val_40_frames"]  # the 40-frame reliability table
    assert sum(b["count"] for b in card["calibration"]["ffpp_c23_val_40_frames"]) == 5
    tr = card["training"]
    assert (tr["training_s"], tr["frame_stage_s"], tr["clip_stage_s"]) == (4321.0, 4000.0, 321.0)
    assert tr["config"]["name"] == "test_model" and tr["teacher"] == "weights/teacher.pt"
    assert tr["monitoring_history"][0]["step"] == 200
    assert "distilled from the teacher" in card["architecture"]["summary"]
    assert card["architecture"]["parameters"] == sum(p.numel() for p in card_model_params(card))


def card_model_params(card: dict):
    # Rebuild the tiny model from the card's recorded config: its parameter count must match.
    cfg = card["architecture"]["model_config"]
    return create_model("resnext_compact_lstm", **{k: v for k, v in cfg.items()}).parameters()


def test_card_without_leave_one_out_or_calibration(detector: Detector) -> None:
    ffpp, dfdc = _reports()
    bare = Checkpoint(detector.checkpoint.model, "resnext_compact_lstm", PreprocessConfig(), threshold=0.5,
                      temperature=1.0, bias=0.0, frame_temperature=1.0, sha256=SHA, path="weights/bare.pt", info={})
    det = Detector(bare, device="cpu")
    c = _card(det, DataConfig(), {"ffpp": ffpp, "dfdc": dfdc}, _validation(det), {})
    json.dumps(c)
    assert c["metrics"]["leave_one_method_out"] is None
    assert c["decision"]["calibration_real_called_fake"] is None
    assert "distilled" not in c["architecture"]["summary"]
    md = render_markdown(c)
    assert "- not measured: `weights/loo/` holds no leave-one-method-out checkpoint" in md
    assert "On the calibration split" not in md  # no calibration line without calibration numbers


def test_markdown_metrics_rows(card: dict) -> None:
    md = render_markdown(card)
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| frames |"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "frames", "AUC", "accuracy", "real→FAKE", "fakes caught", "EER", "log-loss", "ECE", "frame AUC", "s/video",
        "scored", "no face"]
    cells = _row(md, "10")
    assert cells[0] == "10"
    low, high = map(float, re.fullmatch(r"0\.750 \((\d\.\d\d)–(\d\.\d\d)\)", cells[1]).groups())
    assert low < 0.75 < high  # two reals and two fakes: a wide interval around the AUC
    assert cells[2] == "0.500"
    assert cells[3] == "0.500" and cells[4] == "0.500"  # real→FAKE, fakes caught at the threshold
    assert cells[9] == "0.500"  # seconds per video
    assert cells[10:] == ["4", "1"]
    cells40 = _row(md, "40")
    # Perfect ranking: AUC 1 in every resample, EER 0.
    assert cells40[1] == "1.000 (1.00–1.00)" and cells40[5] == "0.000"
    assert cells40[8] == "1.000 (1.00–1.00)"  # frame AUC, clips resampled whole
    assert cells40[3] == "0.000" and cells40[4] == "1.000"
    assert cells40[10:] == ["5", "0"]
    # DFDC row: AUC 3/4 (clip head), 4 scored, none without a face.
    dfdc_header = lines.index("| AUC (clip head) | frame AUC (frame head) | accuracy | EER | log-loss | ECE | scored | no face |")
    dfdc_row = [c.strip() for c in lines[dfdc_header + 2].strip("|").split("|")]
    assert re.fullmatch(r"0\.750 \(\d\.\d\d–\d\.\d\d\)", dfdc_row[0]) and dfdc_row[-2:] == ["4", "0"]
    assert INTERVAL_NOTE in lines  # says what the brackets are


def test_markdown_header_terms_and_limitations(card: dict) -> None:
    md = render_markdown(card)
    assert md.startswith("# Model card: ")
    assert "(`test_model`)" in md.splitlines()[0]
    assert SHA in md
    assert "**0.420**" in md  # the decision threshold
    assert "clip: T = 1.700, bias -0.250; frame: T = 1.300" in md
    assert "5.0% of real clips called FAKE, 80.0% of fakes caught" in md
    assert DATA_TERMS in md
    assert "research use only" in md.lower()
    for d in card["training"]["data"]["datasets"]:
        assert f"- {d}" in md
    assert "- Distilled from: `weights/teacher.pt`" in md
    assert "Initialised from" not in md  # no pretrained weights recorded
    for limitation in LIMITATIONS:
        assert f"- {limitation}" in md
    assert "in 4321.000 s (frame stage 4000.000 s, clip stage 321.000 s; + 120 s face-crop extraction)" in md
    # Reliability rows only for non-empty bins; their counts add up to the clips scored at 40 frames.
    rel_rows = [line for line in md.splitlines() if re.match(r"\| \d\.\d–\d\.\d \|", line)]
    assert sum(int(r.split("|")[2]) for r in rel_rows) == 5


def test_markdown_leave_one_out_line(card: dict) -> None:
    md = render_markdown(card)
    line = next(x for x in md.splitlines() if "`weights/loo/held_out.pt`" in x)
    assert line.startswith(f"- {LOO['recipe']}")
    assert f"scored on {LOO['scored_on']} at 20 frames" in line
    assert "video AUC **0.688**, frame AUC 0.610" in line  # a card written before intervals: the AUC alone
    with_interval = render_markdown({**card, "metrics": {**card["metrics"], "leave_one_method_out": {
        **LOO, "auc_ci_low": 0.4912, "auc_ci_high": 0.8531}}})
    assert "video AUC **0.688 (0.49–0.85)**, frame AUC 0.610" in with_interval


def test_card_says_whether_the_auc_falls_as_frames_rise(card: dict) -> None:
    # The 4 clips scored at both counts: AUC 3/4 at 10 frames, 1 at 40; at 40 every resample ranks perfectly,
    # so no resample loses.
    change = card["metrics"]["ffpp_c23_val"]["auc_change"]
    assert (change["from_frames"], change["to_frames"], change["n_scored"]) == (10, 40, 4)
    assert change["change"] == pytest.approx(0.25) and change["ci_low"] >= 0.0
    assert change["falls_beyond_noise"] is False
    md = render_markdown(card)
    assert "AUC from 10 to 40 frames: +0.250 (95% interval" in md
    assert "4 clips scored at both): no fall beyond noise." in md
    c = json.loads(json.dumps(card))
    c["metrics"]["ffpp_c23_val"]["auc_change"].update(change=-0.2, ci_low=-0.3, ci_high=-0.1, falls_beyond_noise=True)
    assert "-0.200 (95% interval -0.300 to -0.100" in render_markdown(c)
    assert "it falls beyond noise." in render_markdown(c)
    c["metrics"]["ffpp_c23_val"]["auc_change"] = None  # a card written before: no line
    assert "AUC from" not in render_markdown(c)


def test_markdown_shows_the_talking_head_table_its_limitation_points_at(card: dict) -> None:
    assert "Talking-head clips, test split" not in render_markdown(card)  # a card without the measurement
    c = json.loads(json.dumps(card))
    th = json.loads(json.dumps(c["metrics"]["ffpp_c23_val"]))
    th["by_frames"]["10"]["auc"], th["by_frames"]["10"]["n_scored"] = 0.625, 43
    th["auc_change"].update(change=0.0136, ci_low=-0.0204, ci_high=0.0566, n_scored=43)
    c["metrics"]["talking_heads_val"] = th
    lines = render_markdown(c).splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("Talking-head clips, test split"))
    assert lines[start + 2].startswith("| frames | AUC |")
    assert lines[start + 4].startswith("| 10 | 0.625 ") and lines[start + 4].endswith("| 43 | 1 |")
    change = next(x for x in lines[start:] if x.startswith("AUC from"))
    assert change.startswith("AUC from 10 to 40 frames: +0.014 (95% interval -0.020 to +0.057")
    assert start < next(i for i, x in enumerate(lines) if x.startswith("DFDC face crops"))


def test_auc_change_needs_two_counts_and_both_classes() -> None:
    assert auc_change_with_frames(_videos(), (10,)) is None
    assert auc_change_with_frames([v for v in _videos() if v.label == "fake"], (10, 40)) is None


def test_markdown_of_a_card_without_intervals_is_as_before(card: dict) -> None:
    """Cards written before the intervals render their AUCs alone, without the note on brackets."""
    c = json.loads(json.dumps(card))
    for section in ("ffpp_c23_val", "dfdc_faces_val"):
        for row in c["metrics"][section]["by_frames"].values():
            for key in ("auc_ci_low", "auc_ci_high", "frame_auc_ci_low", "frame_auc_ci_high"):
                del row[key]
    md = render_markdown(c)
    assert _row(md, "10")[1] == "0.750" and _row(md, "40")[8] == "1.000"
    assert INTERVAL_NOTE not in md


def test_markdown_has_no_none_for_present_values(card: dict) -> None:
    md = render_markdown(card)
    assert "None" not in md
    assert not re.search(r"\bnan\b", md, re.IGNORECASE)


def test_markdown_shows_missing_values_as_dash(card: dict) -> None:
    c = json.loads(json.dumps(card))
    c["training"]["training_s"] = None
    c["training"]["crop_extraction_s"] = None
    c["metrics"]["ffpp_c23_val"]["by_frames"]["10"]["frame_auc"] = None
    c["metrics"]["ffpp_c23_val"]["by_frames"]["10"]["real_called_fake"] = None
    md = render_markdown(c)
    assert "Trained with" in md and "in – s (frame stage" in md
    assert "whose time this run did not record" in md
    cells = _row(md, "10")
    assert cells[8] == "–" and cells[3] == "–"


# --------------------------------------------------------------------------- the default model


def _auc_card(auc: float | None) -> dict:
    by = {} if auc is None else {DEFAULT_RULE_FRAMES: {"auc": auc}}
    return {"metrics": {"ffpp_c23_val": {"by_frames": by}}}


def test_choose_default_student_within_margin() -> None:
    name, why = choose_default({TEACHER: _auc_card(0.90), STUDENT: _auc_card(0.885)})
    assert name == STUDENT
    assert "0.885" in why and "0.900" in why and "within" in why
    # Better than the teacher: the student, of course.
    assert choose_default({TEACHER: _auc_card(0.80), STUDENT: _auc_card(0.85)})[0] == STUDENT


def test_choose_default_teacher_when_student_falls_short() -> None:
    name, why = choose_default({STUDENT: _auc_card(0.87), TEACHER: _auc_card(0.90)})
    assert name == TEACHER
    assert "0.870" in why and "0.900" in why and "more than" in why


@pytest.mark.parametrize("present", [STUDENT, TEACHER])
def test_choose_default_with_one_measured_card(present: str) -> None:
    other = TEACHER if present == STUDENT else STUDENT
    # The other model has no card, or one without the 20-frame AUC.
    for cards in ({present: _auc_card(0.7)}, {other: _auc_card(None), present: _auc_card(0.7)}):
        assert choose_default(cards) == (present, "the only model with a measured card")


def test_choose_default_with_no_measured_card() -> None:
    assert choose_default({"some_model": {}}) == ("some_model", "the only model with a measured card")


def _rule_card(th: float, ffpp: float, dfdc: float, reals_fake: float, parent: str | None = None) -> dict:
    """A card with the numbers the successor rule reads (test AUCs at 20 frames, DFDC at one crop)."""
    by = lambda auc, frames=DEFAULT_RULE_FRAMES: {"by_frames": {frames: {"auc": auc}}}  # noqa: E731
    return {"metrics": {"talking_heads_val": by(th), "ffpp_c23_val": by(ffpp), "dfdc_faces_val": by(dfdc, "1")},
            "validation": {"by_frames": {DEFAULT_RULE_FRAMES: {"real": {"FAKE": {"rate": reals_fake}}}}},
            "training": {"data": {"warm_started_from": f"weights/{parent}.pt" if parent else None}}}


def test_a_warm_started_model_that_passes_its_rule_becomes_the_default() -> None:
    parent = _rule_card(0.46, 0.887, 0.888, 0.05)
    child = _rule_card(0.70, 0.863, 0.887, 0.013, parent=TEACHER)
    name, why = choose_default({TEACHER: parent, "lite0_lstm_th": child})
    assert name == "lite0_lstm_th"
    assert why.startswith(f"warm-started from {TEACHER} and passes its rule")
    assert "0.700 (floor 0.510)" in why and "0.863 (floor 0.857)" in why and "1.3%" in why
    # Not warm-started from the default: not a successor, whatever its numbers.
    assert choose_default({TEACHER: parent, "other": _rule_card(0.9, 0.9, 0.9, 0.0, parent="elsewhere")})[0] == TEACHER


@pytest.mark.parametrize("change, failing", [
    ({"th": 0.46 + SUCCESSOR_TH_GAIN - 0.001}, "talking-head"),
    ({"ffpp": 0.887 - SUCCESSOR_KEEP - 0.001}, "FF++"),
    ({"dfdc": 0.888 - SUCCESSOR_KEEP - 0.001}, "DFDC"),
    ({"reals_fake": 0.11}, "reals called FAKE"),
])
def test_a_warm_started_model_that_misses_one_floor_stays_a_candidate(change: dict, failing: str) -> None:
    parent = _rule_card(0.46, 0.887, 0.888, 0.05)
    child = _rule_card(**{"th": 0.70, "ffpp": 0.887, "dfdc": 0.888, "reals_fake": 0.01, **change}, parent=TEACHER)
    ok, why = successor_check(child, parent)
    assert not ok and why.startswith("falls short of its rule: ") and failing in why
    assert "; " not in why, "only the floor it misses is named"
    assert choose_default({TEACHER: parent, "lite0_lstm_th": child})[0] == TEACHER


def test_a_card_without_the_rules_numbers_never_replaces_its_parent() -> None:
    parent = _rule_card(0.46, 0.887, 0.888, 0.05)
    child = _rule_card(0.9, 0.9, 0.9, 0.0, parent=TEACHER)
    del child["metrics"]["talking_heads_val"]
    assert successor_check(child, parent) == (False, "its card or its parent's lacks a number the rule needs")


def _full_rule_card(card: dict, th: float, ffpp: float, reals_fake: float, parent: str | None = None) -> dict:
    """The fixture's whole card (it renders), with the numbers the successor rule reads."""
    full = copy.deepcopy(card)  # measured at 10 and 40 frames: the rule's 20 is the 40 row, renumbered
    full["metrics"]["talking_heads_val"] = copy.deepcopy(full["metrics"]["ffpp_c23_val"])
    for split, auc in (("talking_heads_val", th), ("ffpp_c23_val", ffpp)):
        by = full["metrics"][split]["by_frames"]
        by[DEFAULT_RULE_FRAMES] = {**by["40"], "auc": auc}
    by = full["validation"]["by_frames"]
    by[DEFAULT_RULE_FRAMES] = copy.deepcopy(by["40"])
    by[DEFAULT_RULE_FRAMES]["real"]["FAKE"]["rate"] = reals_fake
    full["training"]["data"] = {**(full["training"].get("data") or {}),
                                "warm_started_from": f"weights/{parent}.pt" if parent else None}
    return full


def test_record_default_writes_the_model_list_and_each_cards_default_line(card: dict, tmp_path: Path) -> None:
    parent = _full_rule_card(card, 0.46, 0.887, 0.05)
    child = _full_rule_card(card, 0.70, 0.863, 0.013, parent=TEACHER)
    for name, one in ((TEACHER, parent), ("lite0_lstm_th", child)):
        (tmp_path / f"{name}.pt").write_bytes(b"weights")  # only its presence is read
        (tmp_path / f"{name}.card.json").write_text(json.dumps(one))
    cards = record_default(tmp_path)
    index = json.loads((tmp_path / "models.json").read_text())
    assert index["models"] == ["lite0_lstm_th", TEACHER] and index["default"] == "lite0_lstm_th"
    on_disk = json.loads((tmp_path / f"{TEACHER}.card.json").read_text())["default_model"]
    assert on_disk == {"is_default": False, "default": "lite0_lstm_th", "why": index["why_default"]}
    assert cards["lite0_lstm_th"]["default_model"]["is_default"]
    md = (tmp_path / "lite0_lstm_th.card.md").read_text()
    assert "Default model: **yes**" in md and f"Lineage: every weight started from `weights/{TEACHER}.pt`" in md
    assert "Default model: **no**" in (tmp_path / f"{TEACHER}.card.md").read_text()
    assert record_default(tmp_path / "empty") == {}, "no cards: nothing chosen, nothing written"
    # A record that holds the parent's digest names it too (records from before it did not).
    child["training"]["data"]["warm_started_from_sha256"] = "0b216540" + "0" * 56
    assert f"started from `weights/{TEACHER}.pt` (sha256 0b2165400000…) (its card" in render_markdown(child)


# --------------------------------------------------------------------------- splits the card evaluates on


def test_data_config_of_reads_the_training_split_settings(detector: Detector) -> None:
    cfg = data_config_of(detector, "/data/root")
    assert cfg.data_root == "/data/root"
    assert cfg.seed == 7 and cfg.test_fraction_ffpp == 0.3
    assert cfg.calib_fraction_ffpp == DataConfig().calib_fraction_ffpp
    assert cfg.calib_stratify_ffpp == "source"
    # Trained before the calibration split was stratified by method: by label, as it then was.
    older = {k: v for k, v in jsonable(DataConfig(seed=7)).items() if k != "calib_stratify_ffpp"}
    assert trained_data_config({"data_config": older}, "x").calib_stratify_ffpp == "label"
    assert trained_data_config({"data_config": older}, "x").seed == 7
    # A checkpoint without a recorded data config: the defaults.
    bare = Checkpoint(detector.checkpoint.model, "resnext_compact_lstm", PreprocessConfig(), 0.5, 1.0, 0.0, 1.0, SHA)
    assert data_config_of(Detector(bare, device="cpu"), "x") == DataConfig(data_root="x")


def test_leave_one_out_items() -> None:
    def it(name: str, label: int, source: str) -> LabelledItem:
        return LabelledItem(Path(f"/d/{name}.mp4"), label, (name,), source)

    method = f"ffpp/{LOO_METHOD}"
    splits = {
        "ffpp_train": [it("r_train", 0, "ffpp/original"), it("m_train", 1, method), it("o_train", 1, "ffpp/Other")],
        "ffpp_calib": [it("r_calib", 0, "ffpp/original"), it("m_calib", 1, method)],
        "ffpp_test": [it("r_test", 0, "ffpp/original"), it("m_test", 1, method), it("o_test", 1, "ffpp/Other")],
        "dfdc_test": [it("d_test", 0, "dfdc")],
    }
    got = [i.path.stem for i in leave_one_out_items(splits)]
    # The method's clips from every split (training never saw them), against reals training never saw.
    assert got == ["r_calib", "r_test", "m_train", "m_calib", "m_test"]


def test_card_reports_the_verdict_rates_and_the_error_rates(card: dict, detector: Detector) -> None:
    val, rates = card["validation"], card["error_rates"]
    overall = val["by_source"]["all"]
    assert rates["false_alarm"] == overall["real"]["FAKE"]["rate"] and rates["miss"] == overall["fake"]["NO_SIGN"]["rate"]
    assert rates["n_real"] == overall["real"]["n"] and rates["frames"] == int(val["frames"]) == 10  # nearest to 20
    assert set(val["by_frames"]) == {"10", "40"} and val["images"]["all"]["fake"]["n"] > 0
    assert card["decision"]["t_fake"] == detector.rule.video.fake
    md = render_markdown(card)
    assert "## Verdicts (validation pool" in md and "| 10 frames |" in md
    lo, hi = overall["real"]["FAKE"]["ci"]
    assert f"{overall['real']['FAKE']['rate']:.0%} ({lo:.0%}–{hi:.0%})" in md
