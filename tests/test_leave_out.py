"""Leave-one-out checks (dfcore.evaluation.leave_out): which clips a run that never saw a kind of fake is scored on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from dfcore.evaluation.card import leave_one_out_items
from dfcore.evaluation.leave_out import NothingLeftOutError, left_out_items, left_out_sources, main
from dfcore.training.sources.datasets import LabelledItem


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


def test_the_command_refuses_a_checkpoint_that_left_nothing_out(checkpoint: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "reports.json"
    assert main([str(checkpoint), "--data", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {checkpoint}: its training left no kind of fake out.") and "weights/loo" in err
    assert not out.exists(), "nothing written"
