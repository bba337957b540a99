"""How pages get an analysis: decoded and tracked once per file, scored and explained once per setting.

Each file (by its sha256) has a :class:`dfcore.ClipMemory`: the frames decoded and
the faces found so far, on the sampling grid every frame count shares. The first
analysis of a short, small file also decodes the samples of the slider's top
count (most of the decoding is shared; see ``dfcore.media.clip_memory.prefetch_pays``),
so a new frame count afterwards decodes nothing and searches only the frames not
searched yet; on a long or large file a new count decodes the frames it lacks. Scoring and Grad-CAM (``score_clip``)
are cached by the file, the frame count, the layer and the model. So moving the
opacity slider recomputes nothing, and a new Grad-CAM layer or frame count
re-runs only the model and Grad-CAM (and the face search of frames not seen yet). Each file and model also
has a :class:`dfcore.FeatureMemory`: the CNN's outputs for the face crops it has scored, so a crop met again
is not run again. Once a result is on screen, the faces of the slider's top count are searched and their
crops run through the CNN (:func:`prepare_ahead`), and the other Grad-CAM layers explained
(:func:`prepare_other_layers`), in the background: a move up the slider then runs only the LSTM and
Grad-CAM, and a layer switch is a cache hit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

import dfcore
from dfcore.analyze import AnalysisResult, PreparedClip, Progress, prepare_clip, remember_features, score_clip
from dfcore.media.clip_memory import ClipMemory, prefetch_pays
from dfcore.media.video_io import probe_video
from dfcore.deadline import SERVER_TIME_LIMIT_S, Deadline
from dfcore.models.detector import Detector
from dfcore.models.explain import LAYERS, ExplainOptions
from dfcore.models.feature_memory import FeatureMemory
from dfcore.provenance import InputFile, describe_bytes, describe_input
from ui.common import MAX_FRAMES, temp_copy, uploaded_file
from ui.models import MODEL_WORK

log = logging.getLogger(__name__)

# Bounds on what the server keeps in memory for all sessions together: a clip's memory
# holds at most ~100 frames (~280 MB at 720p); prepared clips and results share those arrays.
CLIP_MEMORIES = 3
PREPARED_ENTRIES = 8
SCORED_ENTRIES = 18  # three Grad-CAM layers each for the last six analyses
# CNN outputs per file and model: a 100-frame analysis with layer4's maps kept holds ~13 MB, so two of
# those (or one and the smaller counts' crops) fit in each.
FEATURE_MEMORIES = CLIP_MEMORIES
FEATURE_MEMORY_BYTES = 32 << 20
# Seconds one analysis may take (the same limit as the HTTP API's); a module global so tests can lower it.
TIME_LIMIT_S = SERVER_TIME_LIMIT_S
LOADED_CLIP_KEY = "loaded_clip"  # the ClipSource last analysed on the Analyze or Webcam page
T = TypeVar("T")


@dataclass(frozen=True)
class ClipSource:
    """A clip to analyse: a file on disk (a sample), an upload, or bytes in memory (a recording).

    Uploads and recordings are written to a private temporary file only while
    they are decoded (see :func:`ui.common.temp_copy`).
    """

    input_file: InputFile  # name (what the user calls it), size and sha256; the digest is the cache key
    path: Path | None = None  # a file on disk
    upload: UploadedFile | None = None  # an upload, read only when it is decoded
    data: bytes | None = None  # bytes in memory

    @property
    def name(self) -> str:
        return self.input_file.name

    @property
    def digest(self) -> str:
        return self.input_file.sha256

    @classmethod
    def from_path(cls, path: Path) -> ClipSource:
        return cls(_described(str(path), path.stat().st_mtime_ns), path=path)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> ClipSource:
        return cls(describe_bytes(name, data), data=data)

    @classmethod
    def from_upload(cls, upload: UploadedFile) -> ClipSource:
        # Hash each upload once, not on every rerun of the page (a 200 MB file takes ~0.5 s).
        described = st.session_state.setdefault("_upload_files", {})
        if upload.file_id not in described:
            described[upload.file_id] = describe_bytes(upload.name, upload.getbuffer())
        return cls(described[upload.file_id], upload=upload)

    @contextmanager
    def local_path(self) -> Iterator[Path]:
        if self.path is not None:
            yield self.path
        elif self.upload is not None:
            with uploaded_file(self.upload) as path:
                yield path
        else:
            with temp_copy(self.name, self.data or b"") as path:
                yield path


@st.cache_data(show_spinner=False, max_entries=64)
def _described(path: str, mtime_ns: int) -> InputFile:
    return describe_input(path)


class _LRU:
    """A small thread-safe least-recently-used map shared by all sessions.

    Used instead of ``st.cache_resource`` on the functions themselves because
    those draw a progress bar while they work, and Streamlit's caches replay a
    cached function's elements on every hit (and refuse elements drawn in a
    container made outside the function).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._making: dict[tuple, threading.Event] = {}  # keys being made now, set when done (or failed)
        self._lock = threading.Lock()

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._items or key in self._making

    def get(self, key: tuple) -> object | None:
        """The value of ``key`` if it is made, else None (nothing is made)."""
        with self._lock:
            return self._items.get(key)

    def get_or_make(self, key: tuple, make: Callable[[], T]) -> T:
        """The value of ``key``, made once: a caller that asks while another makes it waits for that one
        (a layer switch waits for the background job already explaining that layer, instead of repeating it)."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                busy = self._making.get(key)
                if busy is None:
                    done = self._making[key] = threading.Event()
                    break
            busy.wait()  # then look again: made (a hit), or failed (this caller makes it and sees the error)
        try:
            # Made outside the lock: one session's slow decode must not block another's cache hit.
            value = make()
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._making.pop(key, None)
            done.set()


@st.cache_resource(show_spinner=False)
def _memory() -> dict[str, _LRU]:
    """The process-wide caches (Streamlit's "Clear caches" empties them too)."""
    return {"clips": _LRU(CLIP_MEMORIES), "prepared": _LRU(PREPARED_ENTRIES), "scored": _LRU(SCORED_ENTRIES),
            "features": _LRU(FEATURE_MEMORIES)}


# One worker for the whole process, shared by all sessions, that explains the Grad-CAM layers nobody has asked
# for yet. One thread: it must not take the cores from an analysis someone is waiting for. Not a Streamlit
# cache: "Clear caches" must not leave a second worker running beside the first.
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dflens-layers")


def _background() -> ThreadPoolExecutor:
    return _BACKGROUND


def _deadline(source: ClipSource) -> Deadline:
    # Read at call time (not bound at import), so tests and deployments can change the module's limit.
    return Deadline.start(source.name, TIME_LIMIT_S)


@contextmanager
def _named_for_the_user(source: ClipSource) -> Iterator[None]:
    """Errors name the file as the user knows it, not the private temporary copy (whose path stays on the server)."""
    try:
        yield
    except dfcore.DfcoreError as e:
        if e.path is not None and source.path is None:
            raise type(e)(source.name, e.reason, e.hint) from None
        raise


def upload_problem(source: ClipSource) -> str | None:
    """Why the file cannot be analysed (a readable message naming it), or None when it opens; checked on upload.

    Only the container's header (or the image) is read, a few milliseconds, so a bad file is named as
    soon as it is chosen, before anyone presses Analyze. Kept per file for the session: the check runs
    once per upload, not on every rerun.
    """
    checked = st.session_state.setdefault("_upload_checks", {})
    if source.digest not in checked:
        try:
            with _named_for_the_user(source), source.local_path() as path:
                probe_video(path)
            checked[source.digest] = None
        except dfcore.DfcoreError as e:
            checked[source.digest] = e.message
    return checked[source.digest]


def _prepared(source: ClipSource, n_frames: int, progress: Progress, deadline: Deadline,
              prefetch: int | None = None) -> PreparedClip:
    # Keyed by the content hash and the settings, never by the (temporary) path.
    clip_memory = _memory()["clips"].get_or_make((source.digest,), ClipMemory)

    def make() -> PreparedClip:
        with _named_for_the_user(source):
            if clip_memory.covers(n_frames):
                # Every frame is kept: no decoding, so no (temporary) file is needed.
                return prepare_clip(source.name, n_frames, progress=progress, deadline=deadline, memory=clip_memory)
            with source.local_path() as path:
                return prepare_clip(path, n_frames, progress=progress, deadline=deadline, memory=clip_memory,
                                    prefetch=prefetch)
    return _memory()["prepared"].get_or_make((source.digest, n_frames), make)


def _scored_key(source: ClipSource, n_frames: int, layer: str, detector: Detector) -> tuple:
    # Keyed by the file's name too: the result records the name, and a copy under another name is another file.
    return source.input_file, n_frames, layer, detector.sha256


def _features(source: ClipSource, detector: Detector) -> FeatureMemory:
    """The CNN outputs kept for this file's crops under this model (and runtime)."""
    return _memory()["features"].get_or_make((source.digest, detector.sha256, detector.runtime),
                                             lambda: FeatureMemory(FEATURE_MEMORY_BYTES))


def _scored(clip: PreparedClip, source: ClipSource, layer: str, detector: Detector, progress: Progress,
            deadline: Deadline) -> AnalysisResult:
    return _memory()["scored"].get_or_make(
        _scored_key(source, clip.n_frames_requested, layer, detector),
        lambda: score_clip(clip, detector, explain=ExplainOptions(layer=layer), progress=progress, deadline=deadline,
                           input_file=source.input_file, features=_features(source, detector)))


def time_frame_counts(source: ClipSource, counts: list[int], detector: Detector,
                      progress: Callable[[int, int], None]) -> dict[int, float]:
    """Seconds to analyse the clip at each frame count, as the model card measures them.

    Nothing comes from the caches (that would time the cache), and no Grad-CAM
    runs: the card's seconds per video are decode + faces + model, too.
    """
    seconds: dict[int, float] = {}
    with _named_for_the_user(source), source.local_path() as path:
        for done, n in enumerate(counts):
            progress(done, n)
            t = time.perf_counter()
            deadline = _deadline(source)
            score_clip(prepare_clip(path, n, deadline=deadline), detector, deadline=deadline)
            seconds[n] = time.perf_counter() - t
    return seconds


def analyse(source: ClipSource, n_frames: int, detector: Detector, layer: str = "layer4") -> AnalysisResult:
    """The full analysis (with Grad-CAM at ``layer``), from the caches when possible.

    A progress bar naming the stage appears only while something is computed.

    Raises:
        dfcore.DfcoreError: the file cannot be analysed, or the analysis passed
            :data:`TIME_LIMIT_S` (``AnalysisTimeoutError``).
    """
    slot = st.empty()
    bar: list = []

    def progress(stage: str, fraction: float) -> None:
        if not bar:
            bar.append(slot.progress(0.0))
        bar[0].progress(min(1.0, fraction), text=f"{stage.capitalize()}…")

    deadline = _deadline(source)
    try:
        # The first look at a short, small clip decodes the frames of the slider's top count as well
        # (most of the decoding is shared): moving the slider afterwards decodes nothing.
        clip = _prepared(source, n_frames, progress, deadline, prefetch=MAX_FRAMES)
        return _scored(clip, source, layer, detector, progress, deadline)
    finally:
        slot.empty()


def prepare_other_layers(source: ClipSource, n_frames: int, detector: Detector, layer: str) -> list[Future]:
    """Explain the clip at the Grad-CAM layers other than ``layer`` in the background, so a switch is a cache hit.

    Call after :func:`analyse` has shown its result: the decoded frames and faces are cached by then, so
    each layer costs one pass of the model and Grad-CAM (about as long as the layer's first analysis
    took to explain), spent while the user reads the verdict instead of after the switch. A switch
    that comes before a layer is ready waits for that job rather than repeating it.

    Returns:
        The jobs queued (none when every layer is cached or queued already); their results land in the cache.
    """
    clip = _memory()["prepared"].get((source.digest, n_frames))
    if not isinstance(clip, PreparedClip):
        return []  # not analysed (or evicted already): nothing to start from
    jobs = []
    for other in LAYERS:
        if other == layer or _scored_key(source, n_frames, other, detector) in _memory()["scored"]:
            continue
        jobs.append(_background().submit(_explain_quietly, clip, source, other, detector))
    return jobs


def prepare_ahead(source: ClipSource, n_frames: int, detector: Detector, layer: str,
                  top: int = MAX_FRAMES) -> Future | None:
    """Get the slider's top count ready in the background, so that a move up the slider runs only the LSTM.

    Call after :func:`analyse` has shown its result at ``n_frames``. The first analysis decoded the samples
    of ``top`` frames already (its prefetch) but searched faces only in its own; this job searches the
    rest (about a fifth of a second on a 10 s 720p clip), then runs the CNN over the top count's crops into
    the file's :class:`~dfcore.FeatureMemory` (about half a second more), keeping ``layer``'s maps for
    Grad-CAM. Queued before the Grad-CAM layers: a slider move is the commoner next step. Frame counts in
    between find most of their faces in the clip's memory then (their crops mostly differ: where the top
    count interpolates a box, a smaller count may have searched it).

    Returns:
        The job, or None when there is nothing to do: ``top`` is analysed or being prepared, or its frames
        were not decoded with the first analysis and cannot be decoded cheaply now (an upload, whose bytes
        the page's thread reads; a long or large clip): the move decodes then, as before.
    """
    if n_frames >= top or (source.digest, top) in _memory()["prepared"] \
            or _scored_key(source, top, layer, detector) in _memory()["scored"]:
        return None
    clip_memory = _memory()["clips"].get((source.digest,))
    if not isinstance(clip_memory, ClipMemory) or clip_memory.info is None:
        return None
    # Decoding in the background only from a file that stays (a sample) and only where it is cheap; an
    # upload's bytes belong to the page's thread, so for uploads only the faces are searched here.
    decodable = source.path is not None and prefetch_pays(clip_memory.info)
    if not (clip_memory.covers(top) or decodable):
        return None
    # A rerun before the job has started queues another; that one finds the clip prepared and its crops kept.
    return _background().submit(_prepare_quietly, source, top, detector, layer)


def _prepare_quietly(source: ClipSource, n_frames: int, detector: Detector, layer: str) -> None:
    try:
        clip = _prepared(source, n_frames, _ignore, _deadline(source))
        with MODEL_WORK:  # never beside a model load: both may export an ONNX graph (see ui.models)
            remember_features(clip, detector, _features(source, detector), ExplainOptions(layer=layer))
    except Exception as e:  # noqa: BLE001 - a job nobody waits for: the move that needs it prepares it again
        log.warning("preparing %s at %d frames in the background stopped (%s: %s)", source.name,
                    n_frames, type(e).__name__, e)


def _explain_quietly(clip: PreparedClip, source: ClipSource, layer: str, detector: Detector) -> None:
    try:
        with MODEL_WORK:  # never beside a model load: both may export an ONNX graph (see ui.models)
            _scored(clip, source, layer, detector, _ignore, _deadline(source))
    except Exception as e:  # noqa: BLE001 - a job nobody waits for: the switch that needs the layer computes it
        # again and shows any error then. One line, no traceback: at interpreter exit every queued job ends so.
        log.warning("explaining %s at %s in the background stopped (%s: %s)", source.name, layer,
                    type(e).__name__, e)


def score_only(source: ClipSource, n_frames: int, detector: Detector,
               progress: Progress | None = None) -> AnalysisResult:
    """The verdict without Grad-CAM (quick, for batches); decoding is cached as for :func:`analyse`."""
    deadline = _deadline(source)
    clip = _prepared(source, n_frames, progress or _ignore, deadline)
    return score_clip(clip, detector, progress=progress, deadline=deadline, input_file=source.input_file)


def _ignore(stage: str, fraction: float) -> None:
    pass


def run_readably(what: str, work: Callable[[], T]) -> T | None:
    """Run an analysis (or a timing); on failure show a readable st.error (never a traceback) and return None."""
    try:
        return work()
    except dfcore.DfcoreError as e:
        st.error(e.message)
    except Exception as e:  # noqa: BLE001 - an unexpected failure still gets one readable line in the page
        log.exception("analysis of %s failed", what)
        st.error(f"{what}: the analysis failed ({type(e).__name__}: {e}). The server log has the details.")
    return None
