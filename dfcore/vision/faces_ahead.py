"""Searching a clip's first-pass frames for faces while the clip is still being decoded.

Decoding keeps about 1.7 of 2 cores busy and MediaPipe's face search about one, one after the
other; run side by side they take ~0.1 s less at 20 frames (decode 0.31 s + search 0.17 s in turn,
0.39 s together, on the 10 s 720p bench clip), a sixth of a first analysis. The frames
:func:`~dfcore.vision.faces.detect_subject` searches first (:func:`~dfcore.vision.faces.first_pass`)
do not depend on what they show, so they can be searched as each one is decoded; what is found
goes to ``detect_subject`` as its cache of faces already found. Its result is the same with or
without this: the cache only saves it searching a frame it would search anyway.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Collection
from types import TracebackType

from ..deadline import Deadline
from ..deadline import check as check_deadline
from ..media.video_io import SampledFrame
from .faces import Detection, FaceDetector, FaceOptions


class FacesAhead:
    """A worker thread that searches the offered frames at some grid positions, in the order offered.

    Use as a context manager around the decode, passing :meth:`offer` as its ``on_frame``;
    then :meth:`found`. Leaving the block early (an error while decoding) stops the worker
    without searching what is left. A search that fails or passes the deadline ends the work
    quietly: the frames not searched are searched again later, where the failure is reported.

    Args:
        positions: grid positions of the frames to search (those of the first pass).
        options: the face detector's options (the same as the later search's).
        deadline: the analysis's time limit, checked before each search.
    """

    def __init__(self, positions: Collection[int], options: FaceOptions, deadline: Deadline | None = None) -> None:
        self.positions = frozenset(positions)
        self.options = options
        self.deadline = deadline
        self._queue: queue.SimpleQueue[SampledFrame | None] = queue.SimpleQueue()
        self._found: dict[int, list[Detection]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="dfcore-faces-ahead", daemon=True)

    def __enter__(self) -> FacesAhead:
        if self.positions:
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._stop.set()  # the decode failed: nothing found now will be used
        self._finish()

    def offer(self, frame: SampledFrame) -> None:
        """A decoded sample (called from the decoder's thread; returns at once)."""
        if frame.position in self.positions and not self._stop.is_set():
            self._queue.put(frame)

    def found(self) -> dict[int, list[Detection]]:
        """Faces found, by grid position, once the block has ended: every searched position is there."""
        self._finish()
        return dict(self._found)

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _work(self) -> None:
        try:
            with FaceDetector(self.options) as detector:
                while (frame := self._queue.get()) is not None:
                    if self._stop.is_set() or frame.position in self._found:
                        continue  # read on to the end marker without searching
                    check_deadline(self.deadline, "finding faces")
                    self._found[frame.position] = detector.detect(frame.image)
        except Exception:  # noqa: BLE001 - out of time, MediaPipe refusing a frame, bad options: the caller's own
            # search of the same frames meets the same condition and reports it in its own words.
            self._stop.set()
            while self._queue.get() is not None:  # read on to the end marker, so that _finish's join returns
                pass
