"""Shared pieces of the batch tests (test_batch.py, test_batch_ray.py): the inputs, the reference, the checks.

The reference is ``analyze`` run one file at a time with the session's UNTRAINED
checkpoint: every batch mode must give the same lines, whatever its scores mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfcore import analyze_video
from dfcore.serving.batch import BatchOptions
from dfcore.errors import DfcoreError

FRAMES = 6  # few frames: the tests check plumbing, and each clip is analysed several times


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_path(lines: list[dict]) -> dict[str, dict]:
    paths = [d["path"] for d in lines]
    assert len(paths) == len(set(paths)), "a video has two lines"
    return {d["path"]: d for d in lines}


@pytest.fixture(scope="module")
def batch_inputs(sample_dir: Path, corrupt_video: Path) -> list[Path]:
    """The sample clips and still, plus a corrupt file."""
    return sorted(p for p in sample_dir.iterdir() if p.is_file()) + [corrupt_video]


@pytest.fixture(scope="module")
def sequential(batch_inputs: list[Path], detector) -> dict[str, dict]:
    """``analyze`` run one file at a time: the reference every mode must match (None for the corrupt file)."""
    ref = {}
    for p in batch_inputs:
        try:
            ref[str(p)] = analyze_video(p, FRAMES, detector=detector).to_dict()
        except DfcoreError:
            ref[str(p)] = None
    return ref


def assert_matches(lines: list[dict], reference: dict[str, dict]) -> None:
    got = by_path(lines)
    assert set(got) == set(reference)
    for path, ref in reference.items():
        line = got[path]
        if ref is None:
            assert line["error"] and Path(path).name in line["error"] and line["verdict"] is None
            continue
        assert line["error"] is None, line["error"]
        assert line["verdict"] == ref["verdict"]
        assert line["fake_probability"] == pytest.approx(ref["fake_probability"], abs=1e-6)
        assert [f["fake_probability"] for f in line["frames"]] == pytest.approx(
            [f["fake_probability"] for f in ref["frames"]], abs=1e-6)
        assert len(line["sha256"]) == 64


def options(checkpoint: Path, **kw) -> BatchOptions:
    return BatchOptions(n_frames=FRAMES, weights=str(checkpoint), device="cpu", threads=1, progress=False, **kw)
