"""The sample-verdict store behind the dashboard's sample list (dfcore.synth.sample_verdicts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dfcore.decision import FAKE, NO_SIGN
from dfcore.synth.sample_verdicts import SAMPLE_TRUTHS, SampleVerdict, SampleVerdictStore, describe_sample
from dfcore.synth.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, WARP_CLIP


def test_every_generated_sample_is_described_with_its_truth_first() -> None:
    assert set(SAMPLE_TRUTHS) == {REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP, REAL_STILL}
    for name, truth in SAMPLE_TRUTHS.items():
        assert truth.split(":")[0].split()[0] == ("real" if "_real_" in name else "fake"), (name, truth)
    assert describe_sample("someone_else.mp4") == ""


def test_store_keeps_verdicts_per_model_sample_and_frame_count(tmp_path: Path) -> None:
    store = SampleVerdictStore(tmp_path / "sub" / "verdicts.json")
    assert store.get("m1", "s1", 20) is None, "a missing file is an empty store"
    v = SampleVerdict(NO_SIGN, 0.12, 20)
    assert store.put("m1", "s1", v)
    store.put("m1", "s2", SampleVerdict(FAKE, 0.9, 20))
    assert store.get("m1", "s1", 20) == v
    assert store.get("m2", "s1", 20) is None, "another model (sha256) analyses again"
    assert store.get("m1", "s1", 40) is None, "another frame count too"
    assert SampleVerdictStore(store.path).get("m1", "s2", 20) == SampleVerdict(FAKE, 0.9, 20), "read back from disk"
    assert [p.name for p in store.path.parent.iterdir()] == ["verdicts.json"], "no temporary file left"


@pytest.mark.parametrize("content", ["not json", json.dumps({"version": 99, "entries": {}}), json.dumps([1, 2]),
                                     json.dumps({"version": 1, "entries": {"m:s:20": {"wrong": 1}}})])
def test_an_unreadable_store_is_empty_and_is_rewritten(tmp_path: Path, content: str) -> None:
    path = tmp_path / "verdicts.json"
    path.write_text(content)
    store = SampleVerdictStore(path)
    assert store.get("m", "s", 20) is None
    assert store.put("m", "s", SampleVerdict(FAKE, None, 20))
    assert store.get("m", "s", 20) == SampleVerdict(FAKE, None, 20)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_keeps_nothing_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert SampleVerdictStore(folder / "v.json").put("m", "s", SampleVerdict(FAKE, 0.9, 20)) is False
    finally:
        folder.chmod(0o700)


def test_a_store_path_that_is_a_folder_keeps_nothing(tmp_path: Path) -> None:
    """Written where it cannot be (here: the path is a folder), put reports False instead of raising."""
    (tmp_path / "v.json").mkdir()
    assert SampleVerdictStore(tmp_path / "v.json").put("m", "s", SampleVerdict(FAKE, 0.9, 20)) is False
