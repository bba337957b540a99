"""Leave-one-out checks (dfcore.evaluation.leave_out): which clips a run that never saw a kind of fake is scored on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from dfcore.evaluation.card import leave_one_out_items
from dfcore.evaluation.leave_out import (KindSeenError, NothingLeftOutError, left_out_items, left_out_sources, main,
                                         paired_change, unseen_kinds)
from dfcore.training.sources.items import LabelledItem


def _item(name: str, label: int, source: str) -> LabelledItem:
    return LabelledItem(Path(f"/nowhere/{name}.mp4"), label, (name,), source)


SPLITS = {
    "ffpp_train": [_item("ff_r1", 0, "ffpp/original"), _item("ff_fs1", 1, "ffpp/FaceSwap")],
    "ffpp_calib": [_item("ff_r2", 0, "ffpp/original"), _item("ff_df", 1, "ffpp/Deepfakes")],
    "ffpp_test": [_item("ff_r3", 0, "ffpp/original"), _item("ff_fs2", 1, "ffpp/FaceSwap")],
    "dfdc_train": [], "dfdc_calib": [_item("dd_r", 0, "dfdc")], "dfdc_test": [],
    "th_train": [_item("dfl_r1", 0, "talking_heads/DeepFaceLive"), _item("ani1", 1, "talking_heads/AniTalker"),
                 _item("dfl_f1", 1, "talking_heads/DeepFaceLive")],
    "th_calib": [_item("mead", 0, "talking_heads/MEAD"), _item("ani2", 1, "talking_heads/AniTalker")],
    "th_test": [_item("dfl_r2", 0, "talking_heads/DeepFaceLive"), _item("sad", 1, "talking_heads/SadTalker"),
                _item("ani3", 1, "talking_heads/AniTalker")],
}


def _names(items: list[LabelledItem]) -> list[str]:
    return [it.path.stem for it in items]


def test_a_generator_left_out_is_scored_on_all_its_clips_against_unseen_reals_of_its_dataset() -> None:
    items = left_out_items(SPLITS, ["talking_heads/AniTalker"])
    # Reals first (calibration, then test; never train's), then every AniTalker clip from every split.
    assert _names(items) == ["mead", "dfl_r2", "ani1", "ani2", "ani3"]
    # A live swap left out: its fakes only; the originals are reals like any other.
    assert _names(left_out_items(SPLITS, ["talking_heads/DeepFaceLive"])) == ["mead", "dfl_r2", "dfl_f1"]


def test_the_ffpp_check_is_the_same_rule() -> None:
    assert _names(leave_one_out_items(SPLITS, "FaceSwap")) == ["ff_r2", "ff_r3", "ff_fs1", "ff_fs2"]


def test_a_source_of_no_clip_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="dfdc: not a source of ffpp, talking_heads"):
        left_out_items(SPLITS, ["dfdc"])


def test_the_sources_come_from_the_checkpoints_training_record(detector) -> None:
    ck = dataclasses.replace(detector.checkpoint, info={"trained_on": {"excluded_methods": [
        "FaceSwap", "talking_heads/SadTalker"]}})
    assert left_out_sources(SimpleNamespace(checkpoint=ck)) == ["ffpp/FaceSwap", "talking_heads/SadTalker"]
    with pytest.raises(NothingLeftOutError, match="its training left no kind of fake out"):
        left_out_sources(detector)


def _with_info(detector, info: dict) -> SimpleNamespace:
    return SimpleNamespace(checkpoint=dataclasses.replace(detector.checkpoint, info=info))


TEACHER_RUN = {"talking_heads_share": 0.0, "init_from": "", "teacher": ""}


def test_kinds_a_run_never_drew_from_are_scored_as_if_left_out_and_others_are_refused(detector) -> None:
    teacher = _with_info(detector, {"trained_on": {"excluded_methods": ["FaceSwap"], "warm_started_from": None},
                                    "run_config": TEACHER_RUN})
    # No talking-head clip in its recipe: every talking-head kind is unseen; an FF++ method only if left out.
    assert unseen_kinds(teacher, ["talking_heads/AniTalker", "FaceSwap"]) == ["talking_heads/AniTalker",
                                                                               "ffpp/FaceSwap"]
    with pytest.raises(KindSeenError, match="does not show that it never saw ffpp/Deepfakes's fakes"):
        unseen_kinds(teacher, ["Deepfakes"])
    # A recipe that drew talking heads, one warm-started from another run, one distilled from a teacher, or a
    # record without the setting: the talking-head kinds may have been seen.
    for info in ({"run_config": {**TEACHER_RUN, "talking_heads_share": 0.3}},
                 {"run_config": {**TEACHER_RUN, "init_from": "lite0_lstm"}},
                 {"run_config": TEACHER_RUN, "trained_on": {"warm_started_from": "lite0_lstm (sha256 0b21…)"}},
                 {"run_config": TEACHER_RUN, "trained_on": {"distilled_from": "lite0_lstm"}},
                 {}):
        with pytest.raises(KindSeenError, match="talking_heads/AniTalker"):
            unseen_kinds(_with_info(detector, info), ["talking_heads/AniTalker"])
    # A run from before the talking-head split: its record of split sizes has none, so it drew none.
    older = _with_info(detector, {"trained_on": {"sizes": {"ffpp_train": 60, "dfdc_train": 16197}},
                                  "run_config": {"teacher": "", "init_from": ""}})
    assert unseen_kinds(older, ["talking_heads/DeepFaceLive"]) == ["talking_heads/DeepFaceLive"]
    for sizes in ({"ffpp_train": 60, "th_train": 77}, {}):  # a split it may have drawn from, or no record
        with pytest.raises(KindSeenError):
            unseen_kinds(_with_info(detector, {"trained_on": {"sizes": sizes}, "run_config": {}}),
                         ["talking_heads/DeepFaceLive"])
    # Left out by name is enough, whatever else the recipe drew.
    stage = _with_info(detector, {"trained_on": {"excluded_methods": ["talking_heads/SadTalker"],
                                                 "warm_started_from": "lite0_lstm"},
                                  "run_config": {**TEACHER_RUN, "talking_heads_share": 0.6}})
    assert unseen_kinds(stage, ["talking_heads/SadTalker"]) == ["talking_heads/SadTalker"]


def test_the_command_refuses_kinds_the_checkpoint_may_have_seen_before_scoring(checkpoint: Path, tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reports.json"
    assert main([str(checkpoint), "--kinds", "talking_heads/AniTalker", "--data", str(tmp_path / "no_data"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: its training record does not show that it never saw "
                          "talking_heads/AniTalker's fakes.") and "Traceback" not in err
    assert not out.exists(), "nothing written"


def test_the_command_refuses_a_checkpoint_that_left_nothing_out(checkpoint: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reports.json"
    assert main([str(checkpoint), "--data", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: its training left no kind of fake out.") and "weights/loo" in err
    assert not out.exists(), "nothing written"


def _result(checkpoint: str, left_out: list[str], scores: dict[str, tuple[str, float | None]],
            frames: int = 20) -> dict:
    videos = [{"path": path, "label": label, "scores": {str(frames): score}} for path, (label, score) in scores.items()]
    return {"checkpoint": checkpoint, "left_out": left_out, "frames": frames, "report": {"videos": videos}}


def test_a_variant_is_compared_with_the_run_that_left_the_same_kind_out_on_the_same_clips() -> None:
    before = {"r1": ("real", 0.2), "r2": ("real", 0.6), "f1": ("fake", 0.4), "f2": ("fake", 0.7)}
    after = {"r1": ("real", 0.2), "r2": ("real", 0.3), "f1": ("fake", 0.4), "f2": ("fake", 0.7),
             "f3": ("fake", 0.1)}  # a clip the baseline did not score is left out of the comparison
    baseline = [_result("base_ani.pt", ["talking_heads/AniTalker"], {"r1": ("real", 0.9), "f1": ("fake", 0.1)}),
                _result("base_sad.pt", ["talking_heads/SadTalker"], before)]
    c = paired_change(_result("new_sad.pt", ["talking_heads/SadTalker"], after), baseline)
    assert c["baseline"] == "base_sad.pt" and c["n_clips"] == 4
    assert c["auc_before"] == pytest.approx(0.75) and c["auc_after"] == pytest.approx(1.0)
    assert c["change"] == pytest.approx(0.25) and c["change_ci"][0] <= c["change"] <= c["change_ci"][1]
    # Another kind, another frame count, or one class only in the shared clips: nothing to compare.
    assert paired_change(_result("x.pt", ["talking_heads/DeepFaceLive"], after), baseline) is None
    assert paired_change(_result("x.pt", ["talking_heads/SadTalker"], after, frames=40), baseline) is None
    reals_only = {"r1": ("real", 0.2), "r2": ("real", 0.3)}
    assert paired_change(_result("x.pt", ["talking_heads/SadTalker"], reals_only), baseline) is None


def test_an_unreadable_baseline_is_an_error_line_and_exit_2(checkpoint: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_text("{not json")
    assert main([str(checkpoint), "--baseline", str(bad), "--out", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --baseline {bad}: cannot be read") and "Traceback" not in err
