"""dfcore.vision.faces: MediaPipe face detection and following the subject across frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfcore.vision.faces import Detection, FaceDetector, FaceOptions, detect_subject, track_subject
from dfcore.media.video_io import sample_frames


@pytest.fixture(scope="module")
def face_detector():
    with FaceDetector() as det:
        yield det


def _assert_plausible_face(det: Detection, shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    x, y, bw, bh = det.box
    assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h, det.box
    # The astronaut's face spans roughly a quarter to a half of the 240 px frame height.
    assert 0.15 * h < bh < 0.6 * h and 0.15 * h < bw < 0.6 * h, det.box
    assert 0.5 < bw / bh < 2.0
    assert 0.5 <= det.score <= 1.0
    # Its six keypoints (eyes, nose, mouth, ears) are near the box.
    assert len(det.keypoints) == 6
    for kx, ky in det.keypoints:
        assert x - bw / 2 < kx < x + 1.5 * bw and y - bh / 2 < ky < y + 1.5 * bh


def test_face_found_in_still(face_detector: FaceDetector, face_frame: np.ndarray) -> None:
    found = face_detector.detect(face_frame)
    assert len(found) == 1
    _assert_plausible_face(found[0], face_frame.shape)
    # The face is in the upper middle of the frame (the camera looks at the astronaut's head).
    x, y, bw, bh = found[0].box
    cx, cy = x + bw / 2, y + bh / 2
    assert 0.25 * 320 < cx < 0.75 * 320 and cy < 0.6 * 240


def test_face_found_in_every_sampled_frame(face_detector: FaceDetector, face_video: Path) -> None:
    _, frames = sample_frames(face_video, 5)
    for f in frames:
        found = face_detector.detect(f.image)
        assert found, f"no face at t={f.time_s:.2f}s"
        _assert_plausible_face(found[0], f.image.shape)


def test_no_face_in_blank_frame(face_detector: FaceDetector, blank_frame: np.ndarray) -> None:
    assert face_detector.detect(blank_frame) == []


def test_two_faces_largest_first(face_detector: FaceDetector, face_frame: np.ndarray) -> None:
    # The still beside its mirror image: two faces, returned largest first.
    two = np.ascontiguousarray(np.concatenate([face_frame, face_frame[:, ::-1]], axis=1))
    found = face_detector.detect(two)
    assert len(found) == 2
    areas = [d.box[2] * d.box[3] for d in found]
    assert areas == sorted(areas, reverse=True)
    centres = sorted(d.box[0] + d.box[2] / 2 for d in found)
    assert centres[0] < 320 < centres[1]  # one in each half


def test_tightly_cropped_face_is_found(face_detector: FaceDetector, face_frame: np.ndarray) -> None:
    box = face_detector.detect(face_frame)[0].box
    x, y, w, h = box
    crop = np.ascontiguousarray(face_frame[y + h // 8 : y + h, x + w // 8 : x + w])
    found = face_detector.detect(crop)
    assert found, "the short-range model and padded retry should find a tightly framed face"
    bx, by, bw, bh = found[0].box
    assert bx >= 0 and by >= 0 and bx + bw <= crop.shape[1] and by + bh <= crop.shape[0]
    assert bw * bh > 0.3 * crop.shape[0] * crop.shape[1]


def test_unknown_face_model() -> None:
    with pytest.raises(ValueError, match="unknown face model"):
        FaceDetector(FaceOptions(models=("full", "medium")))


def test_context_manager_closes(face_frame: np.ndarray) -> None:
    with FaceDetector() as det:
        assert det._graphs is None  # nothing is built before the first search
        assert det.detect(face_frame)
        graphs = list(det._graphs)
        assert len(graphs) == 2
    assert det._graphs is None
    # The MediaPipe graphs themselves were released, not just forgotten.
    for g in graphs:
        with pytest.raises(ValueError):
            g.process(face_frame)
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(face_frame)


def test_context_manager_closes_on_error(face_frame: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with FaceDetector() as det:
            det.detect(face_frame)
            raise RuntimeError("boom")
    assert det._graphs is None


# --------------------------------------------------------------------------- tracking


def _det(x: int, y: int, size: int, score: float = 0.9) -> Detection:
    return Detection((x, y, size, size), score, ())


def test_track_picks_large_persistent_face_over_small_transient() -> None:
    big = [_det(100 + 2 * i, 50 + i, 80) for i in range(6)]
    small = _det(10, 10, 20)
    # The small face appears first in frame 0 (alone) and frame 1; the big one in every frame.
    per_frame = [[small], [big[1], small], [big[2]], [big[3]], [big[4]], [big[5]]]
    track = track_subject(per_frame)
    assert track.boxes == [None] + [b.box for b in big[1:]]
    assert track.n_found == 5


def test_track_prefers_persistence_over_one_large_frame() -> None:
    # A face seen once at 100x100 loses to a 60x60 face seen in all 5 frames.
    steady = [_det(200, 40, 60) for _ in range(5)]
    flash = _det(20, 100, 100)
    per_frame = [[flash, steady[0]]] + [[d] for d in steady[1:]]
    track = track_subject(per_frame)
    assert track.boxes == [d.box for d in steady]


def test_track_keeps_none_for_frames_without_subject() -> None:
    a = _det(100, 50, 80)
    per_frame = [[a], [], [_det(104, 52, 80)], [], [_det(108, 54, 80)]]
    track = track_subject(per_frame)
    assert len(track.detections) == 5
    assert [b is None for b in track.boxes] == [False, True, False, True, False]
    assert track.n_found == 3


def test_track_two_faces_side_by_side_stays_with_one() -> None:
    # Two similar faces side by side, each drifting slowly; the left one is slightly larger.
    left = [_det(40 + i, 60, 70) for i in range(6)]
    right = [_det(200 - i, 60, 66) for i in range(6)]
    # Detection order varies from frame to frame: the track must not jump between faces.
    per_frame = [[left[i], right[i]] if i % 2 else [right[i], left[i]] for i in range(6)]
    track = track_subject(per_frame)
    assert track.boxes == [d.box for d in left]


def test_track_moving_face_is_linked() -> None:
    # A face moving a third of its size per frame is still one track; a small face nearby is not it.
    moving = [_det(50 + 30 * i, 80, 90) for i in range(5)]
    other = _det(10, 10, 40)
    per_frame = [[m, other] for m in moving]
    track = track_subject(per_frame)
    assert track.boxes == [m.box for m in moving]


def test_track_with_no_detections() -> None:
    track = track_subject([[], [], []])
    assert track.boxes == [None, None, None]
    assert track.n_found == 0
    assert track_subject([]).detections == []


# --------------------------------------------------------------------------- searching a few frames, interpolating the rest


class _CountingDetector:
    """A FaceDetector stand-in that counts the frames searched and answers from a script."""

    def __init__(self, answer) -> None:
        self.answer = answer  # frame number -> list of detections
        self.options = FaceOptions()
        self.searched: list[int] = []

    def detect(self, image: np.ndarray) -> list[Detection]:
        i = int(image[0, 0, 0])  # each stand-in image carries its frame number
        self.searched.append(i)
        return self.answer(i)


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((4, 4, 3), i, np.uint8) for i in range(n)]


def _face(x: float, y: float = 50.0, side: float = 100.0) -> Detection:
    return Detection((int(round(x)), int(round(y)), int(side), int(side)), 0.9,
                     tuple((x + dx, y + 40.0) for dx in (30.0, 70.0, 50.0, 50.0, 0.0, 100.0)))


def test_steady_face_is_searched_every_stride_and_interpolated_between() -> None:
    det = _CountingDetector(lambda i: [_face(100 + 2 * i)])  # drifts 2 px a frame
    track = detect_subject(_frames(21), det, FaceOptions(detect_stride=4))
    assert sorted(det.searched) == [0, 4, 8, 12, 16, 20]
    assert track.n_found == 21
    for i, d in enumerate(track.detections):
        assert d.box == (100 + 2 * i, 50, 100, 100)  # linear motion: interpolation is exact
        assert d.interpolated == (i % 4 != 0)
        assert d.keypoints[0] == pytest.approx((130 + 2 * i, 90.0))


def test_a_moving_or_vanishing_face_gets_every_frame_searched() -> None:
    # Frames 0-9: steady; 10-13: the face jumps away (IoU 0 with frame 8's box); 14+: no face.
    def answer(i: int) -> list[Detection]:
        if i < 10:
            return [_face(100)]
        return [_face(400)] if i < 14 else []

    det = _CountingDetector(answer)
    track = detect_subject(_frames(20), det, FaceOptions(detect_stride=4))
    assert set(det.searched) >= set(range(9, 20))  # everything after the last steady pair
    assert len(det.searched) == len(set(det.searched))  # no frame searched twice
    assert all(d is None for d in track.detections[14:])
    assert not any(d.interpolated for d in track.detections[8:] if d)


def test_stride_one_searches_every_frame_and_a_cache_changes_nothing() -> None:
    det = _CountingDetector(lambda i: [_face(100 + 3 * i)])
    every = detect_subject(_frames(9), det, FaceOptions(detect_stride=1))
    assert sorted(det.searched) == list(range(9))
    assert not any(d.interpolated for d in every.detections)

    cache: dict[int, list[Detection]] = {}
    first = detect_subject(_frames(9), _CountingDetector(lambda i: [_face(100 + 3 * i)]), cache=cache)
    again = _CountingDetector(lambda i: [_face(100 + 3 * i)])
    second = detect_subject(_frames(9), again, cache=cache)
    assert again.searched == []  # everything it needed was cached
    assert first.detections == second.detections


def test_sparse_search_matches_searching_every_frame_on_a_real_clip(face_video: Path) -> None:
    _, frames = sample_frames(face_video, 30)
    images = [f.image for f in frames]
    with FaceDetector() as det:
        every = detect_subject(images, det, FaceOptions(detect_stride=1))
        sparse = detect_subject(images, det, FaceOptions(detect_stride=4))
    assert every.n_found == sparse.n_found == 30
    assert sum(d.interpolated for d in sparse.detections) >= 10
    for a, b in zip(every.detections, sparse.detections):
        # Within a few percent of the face's size: the detector's own frame-to-frame jitter.
        assert max(abs(u - v) for u, v in zip(a.box, b.box)) <= 0.06 * a.box[2], (a.box, b.box)


def test_an_interpolated_box_that_stops_showing_the_face_gets_its_gap_searched(face_frame: np.ndarray) -> None:
    # The detector always answers the same steady box, so only the content check can send it back to frames 5-7.
    h, w = face_frame.shape[:2]
    box = Detection((w // 4, h // 4, w // 2, h // 2), 0.9, ((0.0, 0.0),) * 6)
    occluded = np.random.default_rng(0).integers(0, 256, face_frame.shape, dtype=np.uint8)

    def numbered(image: np.ndarray, i: int) -> np.ndarray:
        out = image.copy()
        out[0, 0, 0] = i  # the stand-in detector reads the frame number here (outside the box)
        return out

    images = [numbered(occluded if i == 6 else face_frame, i) for i in range(9)]
    det = _CountingDetector(lambda i: [box])
    track = detect_subject(images, det, FaceOptions(detect_stride=4))
    assert sorted(det.searched) == [0, 4, 5, 6, 7, 8], "frames 1-3 still look like the face; 5-7 are searched"
    assert [d.interpolated for d in track.detections] == [False, True, True, True, False, False, False, False, False]
    same = [numbered(face_frame, i) for i in range(9)]
    steady = _CountingDetector(lambda i: [box])
    detect_subject(same, steady, FaceOptions(detect_stride=4))
    assert sorted(steady.searched) == [0, 4, 8], "the same face throughout: interpolated"
    strict = _CountingDetector(lambda i: [box])
    detect_subject(same, strict, FaceOptions(detect_stride=4, interp_min_similarity=1.01))
    assert sorted(strict.searched) == list(range(9)), "a similarity above 1 is never reached: every frame searched"


def test_samples_far_apart_in_time_are_each_searched() -> None:
    opts = FaceOptions(detect_stride=4, interp_max_s=0.4)

    def searched(step_s: float) -> list[int]:
        det = _CountingDetector(lambda i: [_face(100 + 2 * i)])
        detect_subject(_frames(9), det, opts, times=[step_s * i for i in range(9)])
        return sorted(det.searched)

    assert searched(0.5) == list(range(9))  # 20 samples of a 10 s clip: each searched
    assert searched(0.1) == [0, 4, 8]  # 100 samples of a 10 s clip: every 4th
    assert searched(0.2) == [0, 2, 4, 6, 8]  # every 2nd: never more than 0.4 s apart


def test_a_large_boxs_thumbnail_matches_the_full_area_average() -> None:
    # The thumbnail of a large box is averaged from every 4th pixel or so (speed); it must still be what
    # the whole box averages to, and still tell the face from what covers it.
    import cv2

    from dfcore.vision.faces import THUMB, _similarity, _thumb

    rng = np.random.default_rng(3)
    # Structure at a face's scale (features tens of pixels across), at full contrast.
    blobs = cv2.GaussianBlur(rng.normal(0.0, 1.0, (720, 1280, 3)).astype(np.float32), (0, 0), 15)
    image = cv2.normalize(blobs, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    box = (400, 100, 330, 360)
    x, y, w, h = box
    full = cv2.resize(cv2.cvtColor(image[y:y + h, x:x + w], cv2.COLOR_RGB2GRAY), (THUMB, THUMB),
                      interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    full -= full.mean()
    full /= np.linalg.norm(full)
    assert _similarity(_thumb(image, box), full) > 0.98
    covered = image.copy()
    covered[y:y + h // 2, x:x + w] = rng.integers(0, 256, (h // 2, w, 3), dtype=np.uint8)
    assert _similarity(_thumb(covered, box), full) < 0.8
    assert _thumb(image, (10, 10, 1, 40)) is None, "a box under 2 px wide has nothing to compare"
