"""The one entry point: a clip in, a verdict with its evidence out.

    decode (N frames over the whole clip) -> detect + track the subject's face
    -> crop (shared preprocessing) -> ResNeXt-LSTM scores -> Grad-CAM (optional)

Each stage is timed; the result object carries everything a page, the CLI or
a report needs (the input file's and the model's identity included, so a saved
report can be matched to its video later), and ``to_dict()`` is the CLI's JSON schema.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .media.clip_memory import ClipMemory, GridKey, prefetch_pays
from .deadline import Deadline
from .deadline import check as check_deadline
from .decision import Decision, decide, is_face_crop, rarity_sentence
from .models.detector import Detector, load_detector
from .models.feature_memory import FeatureMemory
from .models.explain import ExplainOptions, gradcam_maps
from .vision.faces import Detection, FaceDetector, FaceOptions, FaceTrack, detect_subject, first_pass
from .vision.faces_ahead import FacesAhead
from .vision.preprocessing import Box, crop_face
from .provenance import DECISION_RULE, InputFile, describe_input, model_version, utc_now
from .media.video_io import (
    DEFAULT_MAX_SIDE,
    SampledFrame,
    VideoInfo,
    grid_positions,
    is_image,
    probe_video,
    sample_frames,
    sample_grid,
)

MIN_FRAMES, MAX_FRAMES = 1, 300  # hard caps on frames per analysis; the dashboard's slider spans 10-100
# Hard cap on the longer side of the frames analysed: with MAX_FRAMES it bounds the memory
# one analysis holds (300 x 1920 x 1080 x 3 bytes ~ 1.9 GB at worst; 100 x 1280 x 720 x 3 ~ 280 MB).
MAX_SIDE_LIMIT = 1920
Progress = Callable[[str, float], None]  # (stage name, fraction done in [0, 1])
CROP_THREADS = 4  # at most this many threads cut face crops (never more than the CPU has)
CROP_THREADS_FROM = 16  # fewer frames than this are cut on the calling thread: a pool would cost more than it saves

SCHEMA_VERSION = 2  # of to_dict()'s JSON; 2: three verdicts (FAKE / UNCERTAIN / NO_SIGN) and two thresholds


@dataclass
class FrameResult:
    index: int  # frame number in the clip
    time_s: float  # time in the clip, seconds
    box: Box | None  # the subject's face box in the analysed image's pixels; None: no face in this frame
    fake_probability: float | None  # this frame's own calibrated score; None without a face


@dataclass
class AnalysisResult:
    path: str  # the file analysed
    verdict: str  # "FAKE", "UNCERTAIN", "NO_SIGN" or "NO_FACE" (dfcore.decision)
    fake_probability: float | None  # calibrated clip probability of "fake"; None for NO_FACE
    threshold: float  # t_fake: the clip is FAKE when fake_probability >= threshold (and the evidence suffices)
    n_frames_requested: int  # frames asked for
    frames: list[FrameResult]  # one per sampled frame, in time order
    video: VideoInfo  # what the file is
    timings_s: dict[str, float]  # seconds per stage: decode, detect, crop, model, explain, total
    model_name: str  # the checkpoint's architecture name
    model_sha256: str  # the checkpoint file's sha256
    notes: list[str] = field(default_factory=list)  # things the user should know (short clip, ...)
    images: list[np.ndarray] = field(default_factory=list, repr=False)  # sampled frames (RGB), for display
    crops: list[np.ndarray | None] = field(default_factory=list, repr=False)  # face crop per frame (RGB)
    cams: list[np.ndarray | None] | None = field(default=None, repr=False)  # Grad-CAM per crop, [0, 1]
    cam_layer: str | None = None  # the layer the maps were read from
    input_file: InputFile | None = None  # the analysed file's name, size and sha256; None: not recorded
    analysed_at: str = ""  # when the verdict was made: UTC, ISO 8601 (dfcore.provenance.utc_now)
    model_file: str = ""  # the checkpoint's file name
    model_version: dict = field(default_factory=dict)  # dfcore.provenance.model_version of the checkpoint
    threshold_rule: str | None = None  # how the model's threshold was chosen, as its checkpoint records it
    threshold_no_sign: float | None = None  # t_no_sign: NO_SIGN below it; None: as ``threshold`` (a one-threshold model)
    decision: Decision | None = None  # the verdict's reasons and the score's rarity in the calibration pool
    decision_rule: str = ""  # how the model's thresholds were set, in words (its checkpoint's record)
    is_crop: bool = False  # a still image that is a tight face crop (dfcore.decision.is_face_crop): the crops' rule
    runtime: str = "torch"  # what ran the per-frame CNN: "onnx" (ONNX Runtime) or "torch" (dfcore.models.onnx_runtime)

    @property
    def is_image(self) -> bool:
        return self.video.kind == "image"

    @property
    def t_no_sign(self) -> float:
        return self.threshold if self.threshold_no_sign is None else self.threshold_no_sign

    @property
    def rarity(self) -> str | None:
        """How rare the score is among the calibration pool's reals and fakes, in words (None: not known)."""
        return rarity_sentence(self.decision) if self.decision else None

    @property
    def reason_sentences(self) -> list[str]:
        return self.decision.sentences() if self.decision else []

    @property
    def n_faces(self) -> int:
        """Frames in which the subject's face was found."""
        return sum(f.box is not None for f in self.frames)

    @property
    def image_scale(self) -> float:
        """Stored-video pixels per analysed-image pixel (frames are downscaled for analysis)."""
        if not self.images:
            return 1.0
        h, w = self.images[0].shape[:2]
        return max(self.video.width, self.video.height) / max(w, h)

    def to_dict(self) -> dict:
        """The CLI's JSON schema; face boxes in the video's own pixel coordinates."""
        s = self.image_scale
        return {
            "input": self.input_file.to_dict() if self.input_file else None,
            "analysed_at": self.analysed_at or None,
            "dfcore_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict,
            "fake_probability": self.fake_probability,
            "threshold": self.threshold,
            "n_frames": len(self.frames),
            "n_frames_requested": self.n_frames_requested,
            "n_frames_with_face": self.n_faces,
            "frames": [
                {
                    "index": f.index,
                    "time_s": round(f.time_s, 4),
                    "face_box": [int(round(v * s)) for v in f.box] if f.box else None,
                    "fake_probability": f.fake_probability,
                }
                for f in self.frames
            ],
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            "model": {"name": self.model_name, "sha256": self.model_sha256, "file": self.model_file or None,
                      "version": dict(self.model_version), "runtime": self.runtime},
            "decision": {
                "threshold": self.threshold, "t_fake": self.threshold, "t_no_sign": self.t_no_sign,
                "rule": DECISION_RULE, "threshold_rule": self.threshold_rule, "thresholds_set": self.decision_rule or None,
                "reasons": list(self.decision.reasons) if self.decision else [],
                "reason_sentences": self.reason_sentences,
                "calibration_reals_at_or_above": self.decision.real_share if self.decision else None,
                "calibration_fakes_at_or_above": self.decision.fake_share if self.decision else None,
                "rarity": self.rarity,
                "judged_as": ("face crop" if self.is_crop else "photo") if self.is_image else "video",
            },
            "video": {
                "width": self.video.width, "height": self.video.height, "fps": round(self.video.fps, 3),
                "frame_count": self.video.frame_count, "duration_s": round(self.video.duration_s, 3),
                "codec": self.video.codec, "kind": self.video.kind,
            },
            "notes": list(self.notes),
        }


def detect_track(frames: list[SampledFrame], options: FaceOptions | None = None,
                 deadline: Deadline | None = None, cache: dict[int, list[Detection]] | None = None) -> FaceTrack:
    """Find the subject's face in the sampled frames and follow it (see :func:`dfcore.vision.faces.detect_subject`).

    Raises:
        AnalysisTimeoutError: the deadline passed (checked before each frame searched).
    """
    with FaceDetector(options) as det:
        return detect_subject([f.image for f in frames], det, options, cache=cache,
                              before_each=lambda: check_deadline(deadline, "finding faces"),
                              times=[f.time_s for f in frames])


@dataclass
class PreparedClip:
    """A clip decoded and its subject tracked: everything before the model.

    Cache it (keyed by the file's hash and the frame count) to re-score or
    re-explain the same clip without decoding or detecting again.
    """

    path: str  # the file analysed
    n_frames_requested: int  # frames asked for
    info: VideoInfo  # what the file is
    frames: list[SampledFrame]  # the sampled frames, in time order
    track: FaceTrack  # the subject's face per frame
    timings_s: dict[str, float]  # decode and detect seconds


def prepare_clip(
    path: str | os.PathLike,
    n_frames: int = 20,
    *,
    progress: Progress | None = None,
    face_options: FaceOptions | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    deadline: Deadline | None = None,
    memory: ClipMemory | None = None,
    prefetch: int | None = None,
    exact_samples: bool = False,
) -> PreparedClip:
    """Decode ``n_frames`` frames spread over the clip and track the subject's face.

    Args:
        path: a video (mp4, m4v, avi, mov, mkv, webm) or image (jpg, png).
        n_frames: frames to sample evenly over the whole clip (1-300).
        progress: called as ``progress(stage, fraction)`` while working.
        face_options: face detection and tracking options.
        max_side: frames are downscaled to this longer side before analysis.
        deadline: the analysis's time limit (see :class:`~dfcore.deadline.Deadline`);
            pass the same one on to :func:`score_clip`.
        memory: frames and faces kept from earlier calls for this same file
            (same ``max_side`` and ``face_options``); only what it lacks is
            decoded and searched, and it keeps what this call adds.
        prefetch: with ``memory``, on the first sight of the file decode the
            samples of this many frames (a superset of those of ``n_frames``,
            on the shared grid) into the memory, so that a later call at up
            to that many frames decodes nothing; skipped on clips too long or
            large for that to be cheap (:func:`dfcore.media.clip_memory.prefetch_pays`).
            Faces are searched only in the frames analysed now. The result is
            the same as without it.
        exact_samples: every sample on its own first frame, never moved to the
            reference picture after it (see :func:`~dfcore.media.video_io.sample_frames`);
            for comparisons. Not with ``memory``.

    Returns:
        A :class:`PreparedClip` for :func:`score_clip`.

    Raises:
        InputNotFoundError, UnsupportedFormatError, VideoDecodeError: bad input.
        AnalysisTimeoutError: the deadline passed.
        ValueError: n_frames or prefetch outside 1-300, max_side outside 1-1920, or
            exact_samples with memory.
    """
    if not MIN_FRAMES <= n_frames <= MAX_FRAMES:
        raise ValueError(f"n_frames must be between {MIN_FRAMES} and {MAX_FRAMES}, got {n_frames}")
    if not 1 <= max_side <= MAX_SIDE_LIMIT:
        raise ValueError(f"max_side must be between 1 and {MAX_SIDE_LIMIT}, got {max_side}")
    if prefetch is not None and not MIN_FRAMES <= prefetch <= MAX_FRAMES:
        raise ValueError(f"prefetch must be between {MIN_FRAMES} and {MAX_FRAMES}, got {prefetch}")
    if exact_samples and memory is not None:
        raise ValueError("exact_samples cannot be used with memory: its frames are the moved samples")
    report = progress or _no_progress
    private = memory is None
    memory = ClipMemory() if memory is None else memory  # a private one: everything is decoded
    decode_first = max(n_frames, prefetch or 0) if not private else n_frames
    with memory.lock:
        return _prepare(path, n_frames, decode_first, report, face_options or FaceOptions(), max_side, deadline,
                        memory, exact_samples)


def _prepare(path: str | os.PathLike, n_frames: int, decode_first: int, report: Progress, face_options: FaceOptions,
             max_side: int, deadline: Deadline | None, memory: ClipMemory, exact: bool = False) -> PreparedClip:
    """:func:`prepare_clip`: decode and search only the frames ``memory`` lacks, and keep them there.

    The frames the face search takes first are searched while the rest are still being decoded
    (:class:`~dfcore.vision.faces_ahead.FacesAhead`), wherever the clip's grid is known before decoding.
    """
    t = time.perf_counter()
    frames: list[SampledFrame] | None = None
    ahead: dict[GridKey, list[Detection]] = {}
    if memory.info is None or memory.info.damage:
        # First sight of the file, or a damaged one (its samples are spread over the part that
        # decodes, not over a fixed grid): decode everything asked for (and what to prefetch).
        report("decoding", 0.0)
        probed = None if is_image(path) else probe_video(path)
        if decode_first > n_frames and not (probed is not None and prefetch_pays(probed)):
            decode_first = n_frames
        info, first, ahead = _decode(path, decode_first, n_frames, probed, memory, face_options, max_side, deadline,
                                     exact=exact)
        memory.info = info
        if not info.damage:
            first_grid = sample_grid(decode_first, info.frame_count)
            memory.remember(first_grid, grid_positions(decode_first, first_grid), first)
        elif decode_first == n_frames:
            frames = first
        else:  # damaged, and more was decoded than asked for: sample the count asked for over what decodes
            memory.info, frames = sample_frames(path, n_frames, max_side=max_side, deadline=deadline, exact=exact)
    info = memory.info
    grid = sample_grid(n_frames, info.frame_count)
    if frames is None:
        wanted = grid_positions(n_frames, grid)
        missing = memory.missing(grid, wanted)
        if missing:
            report("decoding", 0.0)
            _, new, ahead = _decode(path, n_frames, n_frames, info, memory, face_options, max_side, deadline,
                                    positions=missing)
            memory.remember(grid, missing, new)
        frames = memory.recall(grid, wanted)
    decode_s = time.perf_counter() - t
    report("finding faces", 0.25)
    t = time.perf_counter()
    keys = [(grid, f.position) for f in frames]
    if not info.damage:
        memory.faces.update(ahead)  # faces found in those frames, whatever this count makes of them
    cache = {i: memory.faces[k] for i, k in enumerate(keys) if k in memory.faces}
    track = detect_track(frames, face_options, deadline, cache)
    if not info.damage:
        memory.faces.update((keys[i], dets) for i, dets in cache.items())
    return PreparedClip(str(path), n_frames, info, frames, track,
                        {"decode": decode_s, "detect": time.perf_counter() - t})


def _decode(path: str | os.PathLike, n_decode: int, n_frames: int, probed: VideoInfo | None, memory: ClipMemory,
            face_options: FaceOptions, max_side: int, deadline: Deadline | None,
            positions: list[int] | None = None,
            exact: bool = False) -> tuple[VideoInfo, list[SampledFrame], dict[GridKey, list[Detection]]]:
    """:func:`sample_frames`, searching the frames the face search of ``n_frames`` will take first as they come.

    Returns:
        What ``sample_frames`` returns, and the faces found meanwhile by (grid, position); those are
        on the grid of ``n_frames``, and hold only where the clip turns out undamaged.
    """
    search: set[int] = set()
    grid = 0
    if probed is not None and probed.kind == "video":
        grid = sample_grid(n_frames, probed.frame_count)
        if sample_grid(n_decode, probed.frame_count) == grid:  # the decoded samples sit on that grid
            wanted = grid_positions(n_frames, grid)
            # Their nominal times (the middle of each grid step) decide the search's stride, as the frames' will.
            times = [(p + 0.5) * probed.duration_s / grid for p in wanted] if probed.duration_s > 0 else None
            search = {wanted[i] for i in first_pass(len(wanted), face_options, times)
                      if (grid, wanted[i]) not in memory.faces}
    with FacesAhead(search, face_options, deadline) as ahead:
        info, frames = sample_frames(path, n_decode, max_side=max_side, deadline=deadline, positions=positions,
                                     on_frame=ahead.offer if search else None, exact=exact)
    return info, frames, {(grid, p): dets for p, dets in ahead.found().items()}


def score_clip(
    clip: PreparedClip,
    detector: Detector,
    *,
    explain: bool | ExplainOptions = False,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
    input_file: InputFile | None = None,
    features: FeatureMemory | None = None,
) -> AnalysisResult:
    """Crop the tracked face, score the sequence and (optionally) explain it.

    Args:
        clip: from :func:`prepare_clip` (not modified; safe to share from a cache).
        detector: the loaded detector.
        explain: True or ExplainOptions to compute Grad-CAM maps per face frame.
        progress: called as ``progress(stage, fraction)`` while working.
        deadline: the analysis's time limit, checked before each stage (a
            model or Grad-CAM call cannot be stopped part-way).
        input_file: the clip's file identity, recorded in the result
            (:func:`dfcore.provenance.describe_input`, computed once by the caller).
        features: the CNN outputs of this clip's crops kept from earlier calls with this
            detector (see :func:`remember_features`); only the crops it lacks go through
            the CNN. The result is the same without it.

    Returns:
        An :class:`AnalysisResult`; a clip without any face gives verdict NO_FACE.

    Raises:
        AnalysisTimeoutError: the deadline passed.
        ValueError: ``features`` holds another detector's outputs.
    """
    report = progress or _no_progress
    timings = dict(clip.timings_s)
    t_start = time.perf_counter()
    frames, track = clip.frames, clip.track
    crops = _crop_all(frames, track.boxes, detector)
    timings["crop"] = time.perf_counter() - t_start

    face_idx = [i for i, c in enumerate(crops) if c is not None]
    face_crops = np.stack([crops[i] for i in face_idx]) if face_idx else None
    frame_probs: list[float | None] = [None] * len(frames)
    clip_prob: float | None = None
    opts = (explain if isinstance(explain, ExplainOptions) else ExplainOptions()) if explain else None
    report("scoring", 0.5)
    check_deadline(deadline, "scoring")
    t = time.perf_counter()
    scores = None
    is_image = clip.info.kind == "image"
    is_crop = is_image and bool(frames) and is_face_crop(frames[0].image.shape[1], frames[0].image.shape[0],
                                                          track.boxes[0])
    if face_crops is not None:
        # With Grad-CAM to follow, keep the activations it reads: it then never runs the CNN again.
        scores = detector.score(face_crops, keep_stage=opts.layer if opts else None, memory=features)
        clip_prob = detector.image_probability(scores, is_crop) if is_image else scores.clip_probability
        for j, i in enumerate(face_idx):
            frame_probs[i] = float(scores.frame_probabilities[j])
    timings["model"] = time.perf_counter() - t

    scale = max(clip.info.width, clip.info.height) / max(frames[0].image.shape[:2]) if frames else 1.0
    decision = decide(clip_prob, detector.rule, is_image=is_image, n_frames=len(frames), n_with_face=len(face_idx),
                      face_sides=[min(b[2], b[3]) * scale for b in track.boxes if b is not None], is_crop=is_crop)
    verdict = decision.verdict
    thresholds = detector.rule.thresholds(is_image, is_crop)
    cams: list[np.ndarray | None] | None = None
    layer = None
    if opts and scores is not None:
        report("explaining", 0.75)
        check_deadline(deadline, "explaining")
        t = time.perf_counter()
        maps = gradcam_maps(detector, face_crops, True, opts.layer, stage_maps=scores.stage_maps)
        cams = [None] * len(frames)
        for j, i in enumerate(face_idx):
            cams[i] = maps[j]
        layer = opts.layer
        timings["explain"] = time.perf_counter() - t
    timings["total"] = sum(timings.values())
    report("done", 1.0)

    return AnalysisResult(
        path=clip.path, verdict=verdict, fake_probability=clip_prob, threshold=thresholds.fake,
        n_frames_requested=clip.n_frames_requested,
        frames=[FrameResult(f.index, f.time_s, box, p) for f, box, p in zip(frames, track.boxes, frame_probs)],
        video=clip.info, timings_s=timings, model_name=detector.name, model_sha256=detector.sha256,
        notes=_notes(clip.info, frames, clip.n_frames_requested, track),
        images=[f.image for f in frames], crops=crops, cams=cams, cam_layer=layer,
        input_file=input_file, analysed_at=utc_now(), model_file=Path(detector.checkpoint.path).name,
        model_version=model_version(detector.checkpoint),
        threshold_rule=detector.checkpoint.info.get("threshold_rule"),
        threshold_no_sign=thresholds.no_sign, decision=decision, decision_rule=detector.rule.description,
        is_crop=is_crop, runtime=detector.runtime,
    )


def remember_features(clip: PreparedClip, detector: Detector, memory: FeatureMemory,
                      explain: bool | ExplainOptions = False) -> int:
    """Run the CNN over the clip's face crops into ``memory``, ahead of a :func:`score_clip` that will need them.

    The dashboard calls it in the background after a verdict, for the frames of the slider's top count:
    the move there then runs only the LSTM (and Grad-CAM's backward pass).

    Args:
        clip: from :func:`prepare_clip`.
        detector: the detector the later :func:`score_clip` will use.
        memory: where the outputs go (one per file and detector).
        explain: what that later call will explain (its stage's maps are kept too).

    Returns:
        How many crops went through the CNN (0: all were in ``memory`` already, or no face).

    Raises:
        ValueError: ``memory`` holds another detector's outputs.
    """
    opts = (explain if isinstance(explain, ExplainOptions) else ExplainOptions()) if explain else None
    crops = [c for c in _crop_all(clip.frames, clip.track.boxes, detector) if c is not None]
    if not crops:
        return 0
    stacked = np.stack(crops)
    stage = opts.layer if opts else None
    before = sum(v is None for v in memory.get(memory.keys(stacked, stage)))
    detector.score(stacked, keep_stage=stage, memory=memory)
    return before


def analyze_video(
    path: str | os.PathLike,
    n_frames: int = 20,
    *,
    detector: Detector | None = None,
    explain: bool | ExplainOptions = False,
    progress: Progress | None = None,
    face_options: FaceOptions | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
    time_limit_s: float | None = None,
    input_file: InputFile | None = None,
) -> AnalysisResult:
    """Analyse one clip (or image) and return the verdict with its evidence.

    The same as :func:`prepare_clip` followed by :func:`score_clip`; the file
    is hashed once first, for the result's ``input_file`` (not timed, and not
    counted against ``time_limit_s``).

    Args:
        path: a video (mp4, m4v, avi, mov, mkv, webm) or image (jpg, png).
        n_frames: frames to sample evenly over the whole clip (1-300).
        detector: a loaded detector; None loads the installed weights
            (load it once and pass it in when analysing many clips).
        explain: True or ExplainOptions to compute Grad-CAM maps per face frame.
        progress: called as ``progress(stage, fraction)`` while working.
        face_options: face detection and tracking options.
        max_side: frames are downscaled to this longer side before analysis.
        time_limit_s: seconds allowed for decoding, faces, scoring and Grad-CAM
            together (not for loading the detector); None: no limit.
        input_file: the file's identity when the caller already has it (a batch that
            hashed it to resume, an upload under a temporary name); None: hashed here.

    Returns:
        An :class:`AnalysisResult`; a clip without any face gives verdict NO_FACE.

    Raises:
        InputNotFoundError, UnsupportedFormatError, VideoDecodeError: bad input.
        NoWeightsInstalledError, WeightsError: no usable detector.
        AnalysisTimeoutError: the analysis ran past ``time_limit_s``.
        ValueError: n_frames outside 1-300, max_side outside 1-1920, or a negative time limit.
    """
    det = detector or load_detector()
    input_file = input_file or describe_input(path)
    deadline = Deadline.start(path, time_limit_s)
    clip = prepare_clip(path, n_frames, progress=progress, face_options=face_options, max_side=max_side,
                        deadline=deadline)
    return score_clip(clip, det, explain=explain, progress=progress, deadline=deadline, input_file=input_file)


def _crop_all(frames: list[SampledFrame], boxes: list[Box | None], detector: Detector) -> list[np.ndarray | None]:
    """The face crop of every frame with a box (None for the others).

    OpenCV's resize releases the GIL but runs a small image on one core, so the
    crops of a long clip are cut on a few threads at once.
    """
    def cut(i: int) -> np.ndarray | None:
        box = boxes[i]
        return crop_face(frames[i].image, box, detector.preprocess) if box else None

    if len(frames) < CROP_THREADS_FROM:
        return [cut(i) for i in range(len(frames))]
    with ThreadPoolExecutor(max_workers=min(CROP_THREADS, os.cpu_count() or 1)) as pool:
        return list(pool.map(cut, range(len(frames))))


def _no_progress(stage: str, fraction: float) -> None:
    pass


def _notes(info: VideoInfo, frames: list[SampledFrame], n_frames: int, track: FaceTrack) -> list[str]:
    notes = []
    if info.damage:
        notes.append(f"The file looks damaged or truncated: {info.damage}; only the frames before that were analysed.")
    if info.kind == "image":
        notes.append("A still image was analysed as a one-frame clip.")
    elif len(frames) < n_frames and not info.damage:
        notes.append(f"The clip has only {len(frames)} distinct frame(s) to sample; {n_frames} were requested.")
    if track.n_found == 0:
        notes.append("No face was found in any analysed frame.")
    elif track.n_found < len(frames):
        notes.append(f"The face was found in {track.n_found} of {len(frames)} frames; the others are not scored.")
    return notes
