"""Finding the subject's face in each sampled frame and following it.

MediaPipe's face detector (the models ship inside the 0.10.21 wheel) runs on
the sampled frames (every one where samples are far apart in time; every 4th,
with the box interpolated in between, where the face holds still: see
:func:`detect_subject`); detections are linked into tracks across frames, and
the subject is the track with the largest, most persistent face. Frames where
the subject is not found are kept and marked (box ``None``), never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from .native_logs import native_stderr_silenced, quiet_environment

# MediaPipe's C++ side logs to stderr (glog, absl, TFLite); its loggers read their level at import.
quiet_environment()

import cv2  # noqa: E402
import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402

from .preprocessing import Box  # noqa: E402

Point = tuple[float, float]


@dataclass(frozen=True)
class FaceOptions:
    min_confidence: float = 0.5  # detections scoring below this are ignored
    # Full-range first: it finds the small faces of wide shots; short-range second:
    # it finds the large, tightly framed faces (selfies, face crops) full-range misses.
    models: tuple[str, ...] = ("full", "short")
    # If no face is found, try again with the image padded by this fraction of its
    # size on each side: tightly cropped faces are found once they have context.
    retry_pad: float = 0.25
    min_face_px: int = 8  # boxes smaller than this (in pixels) are noise, not faces
    track_iou: float = 0.3  # a detection joins a track when its box overlaps the track's last box this much
    track_center: float = 0.5  # ... or its centre is within this fraction of the box size
    # Detect in every k-th sampled frame only; in between, the subject's box is interpolated
    # when the face barely moved (see interp_iou), else those frames are searched too. 1: every frame.
    detect_stride: int = 4
    # ... but never interpolate across more than this many seconds of video: a face can turn or
    # move in a second, so sparse samples (e.g. 20 over a long clip) are each searched.
    interp_max_s: float = 0.4
    # Interpolate between two detections of the subject only when their boxes overlap this much;
    # a face that moved, grew or vanished between them gets real detections in between.
    interp_iou: float = 0.6
    # ... and keep an interpolated box only while its content still looks like the detected face at the
    # nearer end of the gap: the normalised correlation of small grey thumbnails at least this (1: identical).
    # Below it (a hand over the face, a cut, a turn the boxes' overlap did not show) the gap is searched.
    interp_min_similarity: float = 0.5


@dataclass(frozen=True)
class Detection:
    box: Box  # (x, y, w, h) in pixels of the image searched
    score: float  # detector confidence in [0, 1]
    keypoints: tuple[Point, ...]  # eyes, nose tip, mouth centre, ear tragions, in pixels
    interpolated: bool = False  # True: placed between two detections of the subject, not detected here


@dataclass
class FaceTrack:
    """The subject followed across the sampled frames."""

    detections: list[Detection | None] = field(default_factory=list)  # one entry per frame

    @property
    def boxes(self) -> list[Box | None]:
        return [d.box if d else None for d in self.detections]

    @property
    def n_found(self) -> int:
        return sum(d is not None for d in self.detections)


_MODEL_SELECTION = {"short": 0, "full": 1}
_WARM_UP_IMAGE = np.zeros((64, 64, 3), np.uint8)  # a graph's first run on it prints MediaPipe's start-up lines


class FaceDetector:
    """MediaPipe face detection with the cascade and retry rules of :class:`FaceOptions`.

    Use as a context manager; the MediaPipe graphs are released on exit. An
    instance is not thread-safe: create one per analysis (it costs ~10 ms).

    Example:
        >>> with FaceDetector() as det:
        ...     faces = det.detect(rgb_image)
    """

    def __init__(self, options: FaceOptions | None = None) -> None:
        self.options = options or FaceOptions()
        unknown = set(self.options.models) - set(_MODEL_SELECTION)
        if unknown:
            raise ValueError(f"unknown face model(s) {sorted(unknown)}; choose from {sorted(_MODEL_SELECTION)}")
        # Built on the first search (~10 ms each): a caller whose frames were all searched before pays nothing.
        self._graphs: list | None = None
        self._closed = False

    def _open_graphs(self) -> list:
        if self._closed:
            raise RuntimeError("FaceDetector is closed")
        if self._graphs is None:
            # MediaPipe and TFLite print their start-up lines to fd 2 from the graph's own threads, at some
            # point between building a graph and its first result: build each and run it once on a blank
            # image (~1 ms) with fd 2 silenced, so that they are all behind us when it is restored.
            with native_stderr_silenced():
                graphs = [
                    mp.solutions.face_detection.FaceDetection(
                        model_selection=_MODEL_SELECTION[name], min_detection_confidence=self.options.min_confidence
                    )
                    for name in self.options.models
                ]
                for g in graphs:
                    g.process(_WARM_UP_IMAGE)
            self._graphs = graphs
        return self._graphs

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for g in self._graphs or []:
            g.close()
        self._graphs = None
        self._closed = True

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """All faces in one RGB image, largest first.

        Args:
            image_rgb: (H, W, 3) uint8 RGB image.

        Returns:
            Detections in that image's pixel coordinates; empty when there is no face.
        """
        found = self._detect_cascade(image_rgb)
        if not found and self.options.retry_pad > 0:
            found = self._detect_padded(image_rgb, self.options.retry_pad)
        return sorted(found, key=lambda d: d.box[2] * d.box[3], reverse=True)

    def _detect_cascade(self, image_rgb: np.ndarray) -> list[Detection]:
        img = np.ascontiguousarray(image_rgb)
        for graph in self._open_graphs():
            result = graph.process(img)
            found = [d for d in _to_detections(result, img.shape) if min(d.box[2:]) >= self.options.min_face_px]
            if found:
                return found
        return []

    def _detect_padded(self, image_rgb: np.ndarray, pad: float) -> list[Detection]:
        h, w = image_rgb.shape[:2]
        py, px = int(round(h * pad)), int(round(w * pad))
        padded = cv2.copyMakeBorder(image_rgb, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        out = []
        for d in self._detect_cascade(padded):
            x, y, bw, bh = d.box
            # Back to the unpadded image's coordinates, clipped to it.
            x0, y0 = max(0, x - px), max(0, y - py)
            x1, y1 = min(w, x - px + bw), min(h, y - py + bh)
            if x1 - x0 >= self.options.min_face_px and y1 - y0 >= self.options.min_face_px:
                kps = tuple((kx - px, ky - py) for kx, ky in d.keypoints)
                out.append(Detection((x0, y0, x1 - x0, y1 - y0), d.score, kps))
        return out


def _to_detections(result: object, shape: tuple[int, ...]) -> list[Detection]:
    h, w = shape[:2]
    out = []
    for det in getattr(result, "detections", None) or []:
        rb = det.location_data.relative_bounding_box
        x0, y0 = max(0.0, rb.xmin * w), max(0.0, rb.ymin * h)
        x1, y1 = min(float(w), (rb.xmin + rb.width) * w), min(float(h), (rb.ymin + rb.height) * h)
        if x1 <= x0 or y1 <= y0:
            continue
        kps = tuple((kp.x * w, kp.y * h) for kp in det.location_data.relative_keypoints)
        box = (int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)))
        out.append(Detection(box, float(det.score[0]), kps))
    return out


def detect_subject(images: Sequence[np.ndarray], detector: FaceDetector, options: FaceOptions | None = None,
                   before_each: Callable[[], None] | None = None,
                   cache: dict[int, list[Detection]] | None = None,
                   times: Sequence[float] | None = None) -> FaceTrack:
    """Find and follow the subject's face over a clip's sampled frames, searching as few frames as it can.

    The detector runs on every k-th frame and the last, where k is
    ``detect_stride`` or less, so that searched frames are at most
    ``interp_max_s`` apart (given the frames' ``times``). Where the
    subject's boxes in two consecutive searched frames overlap by at least
    ``interp_iou``, the frames between get boxes (and keypoints) interpolated
    linearly; anywhere else (the face moved, changed size, appeared or
    vanished) every frame between is searched. Detection is the dominant cost
    of this stage (a few ms a frame, whatever the image size), and on steady
    footage this searches about one frame in ``detect_stride``.

    Args:
        images: the sampled RGB frames, in time order.
        detector: an open :class:`FaceDetector`.
        options: the stride, the interpolation rule and the tracking thresholds.
        before_each: called before each frame is searched (e.g. a deadline check).
        cache: faces already found in some of these images, by frame index,
            looked up instead of searching those frames again; the frames
            searched now are added to it. The frames searched, and so the
            result, are the same with or without it.
        times: each frame's time in seconds; None: frames are taken to be close
            enough together for ``detect_stride`` as it is.

    Returns:
        The subject's :class:`FaceTrack`, one entry per frame; interpolated
        entries have ``interpolated=True``.
    """
    opts = options or detector.options
    n = len(images)
    cache = {} if cache is None else cache
    found: dict[int, list[Detection]] = {}

    def search(indices: Iterator[int] | list[int]) -> None:
        for i in indices:
            if i in found:
                continue
            if i not in cache:
                if before_each is not None:
                    before_each()
                cache[i] = detector.detect(images[i])
            found[i] = cache[i]

    if n == 0:
        return FaceTrack([])
    search(first_pass(n, opts, times))
    while True:
        searched = sorted(found)
        track = track_subject([found[i] for i in searched], opts)
        subject = dict(zip(searched, track.detections))
        gaps = [(a, b) for a, b in zip(searched, searched[1:]) if b - a > 1]
        unsure = [(a, b) for a, b in gaps
                  if subject[a] is None or subject[b] is None or _iou(subject[a].box, subject[b].box) < opts.interp_iou
                  or not _looks_alike(images, subject, a, b, opts.interp_min_similarity)]
        if not unsure:
            break
        for a, b in unsure:
            search(range(a + 1, b))
    detections: list[Detection | None] = [subject.get(i) for i in range(n)]
    for a, b in gaps:
        for i in range(a + 1, b):
            detections[i] = _interpolate(subject[a], subject[b], (i - a) / (b - a))
    return FaceTrack(detections)


THUMB = 16  # side of the grey thumbnails an interpolated box's content is compared by
THUMB_SOURCE = 4 * THUMB  # pixels a side a thumbnail is averaged from, at least (larger boxes are subsampled)


def _looks_alike(images: Sequence[np.ndarray], subject: dict[int, Detection | None], a: int, b: int,
                 min_similarity: float) -> bool:
    """Every frame strictly between ``a`` and ``b`` shows, in its interpolated box, what the nearer end's detection did.

    The check is cheap (a 16x16 grey thumbnail per frame, about 0.1 ms) next to a detection (a few ms).
    """
    da, db = subject[a], subject[b]
    if da is None or db is None:
        return False
    ends = {a: _thumb(images[a], da.box), b: _thumb(images[b], db.box)}
    for i in range(a + 1, b):
        ref = ends[a if i - a <= b - i else b]
        if ref is None:  # the detection's own box shows nothing to compare with: no evidence either way
            continue
        box = _interpolate(da, db, (i - a) / (b - a)).box
        if _similarity(_thumb(images[i], box), ref) < min_similarity:
            return False
    return True


def _thumb(image: np.ndarray, box: Box) -> np.ndarray | None:
    """The box's content as a zero-mean, unit-norm grey thumbnail; None when the box is empty or flat."""
    x, y, w, h = box
    h_img, w_img = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w_img, x + w), min(h_img, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    # Every s-th pixel, keeping at least THUMB_SOURCE a side: an area average of a whole face box down to THUMB px
    # cost ~0.3 ms (a sixth of the detect stage at 100 frames), this ~0.05 ms, and 4x4 or more pixels per
    # thumbnail pixel still average out what the comparison must ignore.
    s = max(1, min(x1 - x0, y1 - y0) // THUMB_SOURCE)
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1:s, x0:x1:s]), cv2.COLOR_RGB2GRAY)
    t = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    t -= t.mean()
    norm = float(np.linalg.norm(t))
    return t / norm if norm > 1e-3 else None


def _similarity(t: np.ndarray | None, ref: np.ndarray) -> float:
    """Normalised correlation of two thumbnails in [-1, 1]; 0 when ``t`` is missing or flat."""
    return float(np.dot(t, ref)) if t is not None else 0.0


def first_pass(n: int, options: FaceOptions, times: Sequence[float] | None = None) -> list[int]:
    """The frames :func:`detect_subject` searches first, whatever they show: every k-th and the last.

    Args:
        n: frames in the clip's sample.
        options: ``detect_stride`` and ``interp_max_s``.
        times: the frames' times in seconds (see :func:`detect_subject`).

    Returns:
        Frame indices, increasing; empty when ``n`` is 0.
    """
    if n <= 0:
        return []
    return sorted(set(range(0, n, _stride(options, times))) | {n - 1})


def _stride(opts: FaceOptions, times: Sequence[float] | None) -> int:
    """Search every k-th frame: ``detect_stride``, fewer where that would span over ``interp_max_s``."""
    stride = max(1, int(opts.detect_stride))
    if times is not None and len(times) > 1 and stride > 1:
        step = float(np.median(np.diff(np.asarray(times, np.float64))))
        if step > 0:
            stride = max(1, min(stride, int(opts.interp_max_s / step + 1e-9)))
    return stride


def _interpolate(a: Detection, b: Detection, w: float) -> Detection:
    """The detection a fraction ``w`` of the way from ``a`` to ``b``."""
    box = tuple(int(round((1 - w) * va + w * vb)) for va, vb in zip(a.box, b.box))
    kps = tuple(((1 - w) * pa[0] + w * pb[0], (1 - w) * pa[1] + w * pb[1]) for pa, pb in zip(a.keypoints, b.keypoints))
    return Detection(box, min(a.score, b.score), kps, interpolated=True)  # type: ignore[arg-type]


def track_subject(per_frame: list[list[Detection]], options: FaceOptions | None = None) -> FaceTrack:
    """Link detections across frames and return the subject's track.

    Each detection joins the track whose most recent box it overlaps (IoU) or
    whose centre it is close to; otherwise it starts a new track. The subject is
    the track with the largest total face area, i.e. the largest, most
    persistent face. A clip with no detection gives a track of all ``None``.

    Args:
        per_frame: the detections of each sampled frame, in time order.
        options: the linking thresholds.

    Returns:
        The subject's :class:`FaceTrack`, one entry per frame.
    """
    opts = options or FaceOptions()
    tracks: list[dict[int, Detection]] = []
    for i, dets in enumerate(per_frame):
        taken: set[int] = set()
        for det in dets:  # largest first, so the big face claims its track before a small one
            best, best_score = None, 0.0
            for t_id, track in enumerate(tracks):
                if t_id in taken:
                    continue
                last = track[max(track)]
                score = _match(last.box, det.box, opts)
                if score > best_score:
                    best, best_score = t_id, score
            if best is None:
                tracks.append({i: det})
                taken.add(len(tracks) - 1)
            else:
                tracks[best][i] = det
                taken.add(best)
    if not tracks:
        return FaceTrack([None] * len(per_frame))
    subject = max(tracks, key=lambda tr: sum(d.box[2] * d.box[3] for d in tr.values()))
    return FaceTrack([subject.get(i) for i in range(len(per_frame))])


def _match(a: Box, b: Box, opts: FaceOptions) -> float:
    """How well box b continues box a: > 0 when it may, higher is better."""
    iou = _iou(a, b)
    if iou >= opts.track_iou:
        return 1.0 + iou
    ca = (a[0] + a[2] / 2, a[1] + a[3] / 2)
    cb = (b[0] + b[2] / 2, b[1] + b[3] / 2)
    size = max(a[2], a[3], b[2], b[3])
    dist = float(np.hypot(ca[0] - cb[0], ca[1] - cb[1])) / size
    return 1.0 - dist / opts.track_center if dist < opts.track_center else 0.0


def _iou(a: Box, b: Box) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
