"""Sampling on a shared grid, and dfcore.ClipMemory: a new frame count decodes only the frames it lacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dfcore.analyze as analyze
from dfcore.analyze import prepare_clip
from dfcore.media.clip_memory import ClipMemory
from dfcore.media.video_io import SAMPLE_GRID, grid_positions, sample_frames, sample_grid
from dfcore.media.video_writer import write_h264

LONG_FRAMES = 150  # more frames than the grid has steps


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory, face_frame: np.ndarray) -> Path:
    """A 150-frame (6 s at 25 fps) clip of the astronaut drifting slowly to the right."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    frames = (np.roll(face_frame, i // 3, axis=1) for i in range(LONG_FRAMES))
    return write_h264(frames, path, fps=25.0)


def test_grid_rule() -> None:
    assert grid_positions(SAMPLE_GRID, SAMPLE_GRID) == list(range(SAMPLE_GRID))
    # 20 samples are every fifth grid step, centred: the same times as 20 equal parts of the clip.
    assert grid_positions(20, 100) == [5 * k + 2 for k in range(20)]
    for n in (10, 30, 40, 60, 80):
        pos = grid_positions(n, 100)
        assert len(set(pos)) == n and pos == sorted(pos) and 0 <= pos[0] and pos[-1] < 100
    assert sample_grid(20, 300) == SAMPLE_GRID
    assert sample_grid(20, 30) == 30  # never finer than the clip's frames
    assert sample_grid(200, 300) == 200  # above the grid, a count is its own grid
    assert sample_grid(20, 0) == 20  # unknown length


def test_a_subset_of_positions_decodes_the_same_frames(long_video: Path) -> None:
    _, every = sample_frames(long_video, 100)
    assert [f.position for f in every] == list(range(100))
    some = [3, 4, 50, 97]
    _, subset = sample_frames(long_video, 100, positions=some)
    assert [f.position for f in subset] == some
    for f in subset:
        ref = every[f.position]
        assert (f.index, f.time_s) == (ref.index, ref.time_s)
        np.testing.assert_array_equal(f.image, ref.image)
    # Fewer samples take some of the same frames: 20 samples are 20 of the 100.
    _, twenty = sample_frames(long_video, 20)
    assert [f.index for f in twenty] == [every[p].index for p in grid_positions(20, 100)]


def _same(a, b) -> None:
    assert [f.index for f in a.frames] == [f.index for f in b.frames]
    for fa, fb in zip(a.frames, b.frames):
        np.testing.assert_array_equal(fa.image, fb.image)
    assert a.track.boxes == b.track.boxes
    assert a.info == b.info


def test_memory_gives_what_a_fresh_analysis_gives_and_decodes_only_what_it_lacks(
        long_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real_sample = analyze.sample_frames

    def counting(*args, **kwargs):
        info, frames = real_sample(*args, **kwargs)
        decoded.append(len(frames))
        return info, frames

    monkeypatch.setattr(analyze, "sample_frames", counting)
    memory = ClipMemory()
    plan = [(20, 20), (100, 80), (60, None), (20, 0), (100, 0), (10, None)]
    for n, expect_decoded in plan:
        decoded.clear()
        remembered = prepare_clip(long_video, n, memory=memory)
        got = sum(decoded)
        fresh = prepare_clip(long_video, n)
        _same(remembered, fresh)
        if expect_decoded is not None:
            assert got == expect_decoded, (n, got)
        if expect_decoded == 0:
            assert remembered.timings_s["decode"] < 0.05
    assert memory.n_frames == 100  # one grid's worth, whatever was asked
    assert memory.covers(40) and memory.covers(100)
    assert not memory.covers(150)  # above the grid: its own grid, not held


def test_memory_needs_no_file_once_it_covers_the_count(long_video: Path, tmp_path: Path) -> None:
    memory = ClipMemory()
    first = prepare_clip(long_video, 100, memory=memory)
    gone = tmp_path / "deleted.mp4"  # an upload's temporary copy, already removed
    again = prepare_clip(gone, 30, memory=memory)
    assert len(again.frames) == 30
    assert {f.index for f in again.frames} <= {f.index for f in first.frames}


def test_short_clip_and_damaged_clip_through_memory(face_video: Path, truncated_video: Path) -> None:
    memory = ClipMemory()
    for n in (10, 30, 100):  # the 30-frame clip: its grid is its frames
        _same(prepare_clip(face_video, n, memory=memory), prepare_clip(face_video, n))
    assert memory.covers(10) and memory.covers(30) and memory.covers(100)
    damaged = ClipMemory()
    for n in (5, 10):
        _same(prepare_clip(truncated_video, n, memory=damaged), prepare_clip(truncated_video, n))
    assert damaged.n_frames == 0  # samples of a damaged file are not on the grid: nothing kept


def test_prefetch_decodes_the_larger_count_once_and_changes_no_result(
        long_video: Path, truncated_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = {n: prepare_clip(long_video, n) for n in (20, 100, 60, 10)}
    memory = ClipMemory()
    _same(prepare_clip(long_video, 20, memory=memory, prefetch=100), fresh[20])
    assert memory.n_frames == 100 and memory.covers(100)
    assert len(memory.faces) == 20  # faces searched only where analysed

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(analyze, "sample_frames", no_decoding)
    for n in (100, 60, 10):
        _same(prepare_clip(long_video, n, memory=memory), fresh[n])
    monkeypatch.undo()
    # A damaged file: nothing is kept, and the count asked for is what is analysed.
    damaged = ClipMemory()
    _same(prepare_clip(truncated_video, 5, memory=damaged, prefetch=100), prepare_clip(truncated_video, 5))
    assert damaged.n_frames == 0


def test_prefetch_out_of_range(face_video: Path) -> None:
    with pytest.raises(ValueError, match="prefetch must be between 1 and 300"):
        prepare_clip(face_video, 10, memory=ClipMemory(), prefetch=1000)


def test_no_prefetch_on_clips_too_long_or_large_for_it(long_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dfcore.media.clip_memory as clip_memory

    info = analyze.probe_video(long_video)  # 320x240, 6 s: 0.46 M pixel-seconds
    assert clip_memory.prefetch_pays(info)
    monkeypatch.setattr(clip_memory, "PREFETCH_MAX_PIXEL_SECONDS", 1e5)
    assert not clip_memory.prefetch_pays(info)
    memory = ClipMemory()
    prepare_clip(long_video, 20, memory=memory, prefetch=100)
    assert memory.n_frames == 20  # only what was analysed
