"""Faces searched while the clip is still being decoded: the same track, and nothing left running."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import dfcore.analyze as analyze
from dfcore.analyze import prepare_clip
from dfcore.deadline import Deadline
from dfcore.media.clip_memory import ClipMemory
from dfcore.media.video_io import SampledFrame, sample_frames
from dfcore.vision.faces import FaceDetector, FaceOptions, first_pass
from dfcore.vision.faces_ahead import FacesAhead


def _searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each face search ran on."""
    threads: list[str] = []
    real = FaceDetector.detect
    monkeypatch.setattr(FaceDetector, "detect",
                        lambda self, image: threads.append(threading.current_thread().name) or real(self, image))
    return threads


def _no_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyze, "first_pass", lambda *a, **k: [])


@pytest.mark.parametrize("n_frames", [10, 30])
def test_the_track_is_the_same_with_the_first_pass_searched_during_decoding(
        face_video: Path, monkeypatch: pytest.MonkeyPatch, n_frames: int) -> None:
    threads = _searches(monkeypatch)
    during = prepare_clip(face_video, n_frames)
    on_worker = threads.count("dfcore-faces-ahead")
    times = [f.time_s for f in during.frames]
    assert on_worker == len(first_pass(len(during.frames), FaceOptions(), times)) > 0
    in_caller = len(threads) - on_worker
    threads.clear()
    _no_ahead(monkeypatch)
    after = prepare_clip(face_video, n_frames)
    assert set(threads) == {threading.current_thread().name}, "without it every search runs in the caller"
    assert len(threads) == on_worker + in_caller, "a frame searched during decoding is not searched again"
    assert during.track.boxes == after.track.boxes
    assert [d and d.interpolated for d in during.track.detections] == \
        [d and d.interpolated for d in after.track.detections]
    assert not any(t.name == "dfcore-faces-ahead" for t in threading.enumerate()), "no worker left running"


def test_faces_found_ahead_are_kept_for_later_counts(face_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = ClipMemory()
    prepare_clip(face_video, 10, memory=memory, prefetch=30)
    threads = _searches(monkeypatch)
    again = prepare_clip(face_video, 10, memory=memory)
    assert threads == [], "every frame of 10 was searched before: no search at all"
    assert again.track.n_found == 10


def _frames(n: int) -> list[SampledFrame]:
    return [SampledFrame(i, i / 10, np.zeros((64, 64, 3), np.uint8), position=i) for i in range(n)]


def test_only_the_positions_asked_for_are_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = _searches(monkeypatch)
    with FacesAhead({1, 3}, FaceOptions()) as ahead:
        for f in _frames(5):
            ahead.offer(f)
    assert sorted(ahead.found()) == [1, 3] and ahead.found()[1] == []  # blank frames: searched, no face
    assert threads == ["dfcore-faces-ahead"] * 2


def test_a_failing_search_stops_quietly_and_frees_its_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, image):
        raise RuntimeError("MediaPipe refused the frame")

    monkeypatch.setattr(FaceDetector, "detect", refuse)
    with FacesAhead({0, 1, 2}, FaceOptions()) as ahead:
        for f in _frames(3):
            ahead.offer(f)
    assert ahead.found() == {}, "nothing found; the caller's own search meets the error and reports it"
    assert not ahead._thread.is_alive()


def test_a_passed_deadline_stops_the_search(tmp_path: Path) -> None:
    with FacesAhead({0, 1}, FaceOptions(), Deadline.start(tmp_path / "clip.mp4", 0.0)) as ahead:
        for f in _frames(2):
            ahead.offer(f)
    assert ahead.found() == {}


def test_a_failing_decode_leaves_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    ahead = FacesAhead({0, 1}, FaceOptions())
    with pytest.raises(ValueError, match="decode failed"):
        with ahead:
            ahead.offer(_frames(1)[0])
            raise ValueError("decode failed")
    assert not ahead._thread.is_alive()


def test_a_damaged_clip_uses_nothing_found_ahead(truncated_video: Path) -> None:
    # Its samples are spread over the part that decodes, not over the grid the search was planned on.
    info, _ = sample_frames(truncated_video, 10)
    assert info.damage
    memory = ClipMemory()
    prepared = prepare_clip(truncated_video, 10, memory=memory)
    assert prepared.info.damage and memory.faces == {}
    plain = prepare_clip(truncated_video, 10)
    assert prepared.track.boxes == plain.track.boxes
