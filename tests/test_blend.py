"""dfcore.synth.blend: self-blended pseudo-fakes and the mouth warp, on the public-domain astronaut photo."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from mediapipe.python.solutions import face_mesh_connections as conn

from dfcore.synth.blend import (
    REGIONS,
    BlendOptions,
    BlendParams,
    apply_blend,
    face_mask,
    sample_blend_params,
    self_blend,
    warp_face_region,
)
from dfcore.vision.faces import Detection, FaceDetector

FULL = BlendOptions(blend_ratios=(1.0,))  # always replace the face fully: changes are large


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def face(photo: np.ndarray) -> Detection:
    with FaceDetector() as det:
        found = det.detect(photo)
    assert found, "the astronaut's face should be found in the photo"
    return found[0]


def _inside(box, shape) -> np.ndarray:
    x, y, w, h = box
    m = np.zeros(shape[:2], bool)
    m[max(0, y) : y + h, max(0, x) : x + w] = True
    return m


def _far_outside(box, shape, factor: float = 1.0) -> np.ndarray:
    """Pixels more than ``factor`` box sizes away from the box on some axis."""
    x, y, w, h = box
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = max(w, h) * factor
    return (xx < x - d) | (xx > x + w + d) | (yy < y - d) | (yy > y + h + d)


# --------------------------------------------------------------------------- self_blend


@pytest.mark.parametrize("use_kps", [True, False])
def test_self_blend_changes_face_not_background(photo, face, use_kps) -> None:
    kps = face.keypoints if use_kps else None
    for seed in range(6):
        out, mask = self_blend(photo, face.box, kps, np.random.default_rng(seed), FULL)
        assert out.shape == photo.shape and out.dtype == np.uint8
        assert mask.shape == photo.shape[:2] and mask.dtype == np.float32
        assert mask.min() >= 0.0 and mask.max() <= 1.0
        diff = np.abs(out.astype(int) - photo).max(axis=2)
        inside = _inside(face.box, photo.shape)
        assert (diff[inside] > 0).mean() > 0.5, seed  # most of the face is altered
        # Where the mask is 0 the image is untouched, and the mask is 0 far from the face.
        assert (diff[mask == 0] == 0).all()
        far = _far_outside(face.box, photo.shape)
        assert far.sum() > 0.3 * far.size
        assert (mask[far] == 0).all() and (diff[far] == 0).all()


def test_self_blend_mask_peaks_inside_box(photo, face) -> None:
    for seed in range(6):
        params = sample_blend_params(np.random.default_rng(seed))
        _, mask = apply_blend(photo, face.box, face.keypoints, params)
        y, x = np.unravel_index(np.argmax(mask), mask.shape)
        assert _inside(face.box, photo.shape)[y, x]
        # The peak is the drawn blend ratio (the face interior is fully inside the outline).
        assert mask.max() == pytest.approx(params.blend_ratio, abs=0.02)
        # The face centre is at (or near) the peak.
        bx, by, bw, bh = face.box
        assert mask[by + bh // 2, bx + bw // 2] >= 0.9 * params.blend_ratio


def test_default_options_change_something(photo, face) -> None:
    # Even the weakest default blend (ratio 0.25) alters the face.
    for seed in range(8):
        out, mask = self_blend(photo, face.box, face.keypoints, np.random.default_rng(seed))
        assert mask.max() > 0
        assert np.abs(out.astype(int) - photo)[_inside(face.box, photo.shape)].sum() > 0


def test_apply_blend_deterministic_for_params(photo, face) -> None:
    params = sample_blend_params(np.random.default_rng(3), FULL)
    a = apply_blend(photo, face.box, face.keypoints, params)
    b = apply_blend(photo, face.box, face.keypoints, params)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # The input is not modified.
    assert not np.shares_memory(a[0], photo)
    other = dataclasses.replace(params, brightness=params.brightness + 10, mask_seed=params.mask_seed + 1)
    c = apply_blend(photo, face.box, face.keypoints, other)
    assert not np.array_equal(a[0], c[0])


def test_self_blend_equals_sample_then_apply(photo, face) -> None:
    out, mask = self_blend(photo, face.box, face.keypoints, np.random.default_rng(11))
    params = sample_blend_params(np.random.default_rng(11))
    out2, mask2 = apply_blend(photo, face.box, face.keypoints, params)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(mask, mask2)


def test_sample_blend_params_seeded_and_in_range() -> None:
    o = BlendOptions()
    a = sample_blend_params(np.random.default_rng(0))
    assert a == sample_blend_params(np.random.default_rng(0))
    draws = [sample_blend_params(np.random.default_rng(s)) for s in range(40)]
    assert len({d.mask_seed for d in draws}) > 30
    for p in draws:
        assert isinstance(p, BlendParams)
        assert abs(p.hue_deg) <= o.hue_deg
        assert 1 - o.saturation <= p.saturation <= 1 + o.saturation
        assert abs(p.brightness) <= o.brightness
        assert 1 - o.contrast <= p.contrast <= 1 + o.contrast
        assert all(abs(v) <= o.rgb_shift for v in p.rgb_shift)
        assert p.detail in ("sharpen", "blur", "none")
        assert o.scale[0] <= p.scale <= o.scale[1]
        assert all(abs(v) <= o.translate for v in p.shift)
        assert abs(p.rotate_deg) <= o.rotate_deg
        assert p.mask_shape in ("keypoints", "ellipse")  # "inner" only when inner_face_prob asks for it
        assert o.mask_blur[0] <= p.mask_blur <= o.mask_blur[1]
        assert p.blend_ratio in o.blend_ratios
    # Every detail mode and both mask shapes turn up in 40 draws.
    assert {p.detail for p in draws} == {"sharpen", "blur", "none"}
    assert {p.mask_shape for p in draws} == {"keypoints", "ellipse"}


def test_face_mask_in_unit_range(photo, face) -> None:
    m = face_mask(photo.shape[:2], face.box, face.keypoints, np.random.default_rng(0))
    assert m.shape == photo.shape[:2] and m.dtype == np.float32
    assert 0.0 <= m.min() and 0 < m.max() <= 1.0


def test_box_partly_or_fully_outside_image(photo) -> None:
    h, w = photo.shape[:2]
    rng = np.random.default_rng(0)
    out, mask = self_blend(photo, (-30, -25, 90, 90), None, rng, FULL)
    assert out.shape == photo.shape and mask.shape == (h, w)
    assert mask[:20, :20].max() > 0.5  # the visible part of the face is blended
    assert (out[mask == 0] == photo[mask == 0]).all()
    out, mask = self_blend(photo, (w + 200, h + 200, 40, 40), None, rng, FULL)
    np.testing.assert_array_equal(out, photo)
    assert not mask.any()


def test_bad_inputs_rejected(photo, face) -> None:
    params = sample_blend_params(np.random.default_rng(0))
    with pytest.raises(ValueError):
        apply_blend(photo.astype(np.float32), face.box, None, params)
    with pytest.raises(ValueError):
        apply_blend(photo[..., 0], face.box, None, params)
    with pytest.raises(ValueError):
        apply_blend(photo, (10, 10, 0, 20), None, params)
    with pytest.raises(ValueError):
        warp_face_region(photo, (10, 10, 20, 0), None, 0.0)


# --------------------------------------------------------------------------- warp_face_region

T_OPEN = 1 / (2 * 3.1)  # the syllable cycle's first peak: the mouth is open


def _mouth_window(face: Detection, half: int) -> tuple[slice, slice]:
    mx, my = (int(round(v)) for v in face.keypoints[3])
    return slice(my - half // 2, my + half), slice(mx - half, mx + half)


def test_warp_moves_mouth_over_time(photo, face) -> None:
    closed = warp_face_region(photo, face.box, face.keypoints, 0.0)
    opened = warp_face_region(photo, face.box, face.keypoints, T_OPEN)
    assert closed.shape == photo.shape == opened.shape and opened.dtype == np.uint8
    win = _mouth_window(face, face.box[2] // 3)
    mouth_change = np.abs(opened[win].astype(int) - closed[win]).mean()
    assert mouth_change > 2.0
    # The forehead/eye band barely moves (only the jaw and lips are displaced).
    x, y, bw, bh = face.box
    top = (slice(y, y + bh // 4), slice(x, x + bw))
    assert np.abs(opened[top].astype(int) - closed[top]).mean() < 0.25 * mouth_change
    # Far from the face nothing changes, at any time.
    far = _far_outside(face.box, photo.shape)
    assert (opened[far] == photo[far]).all() and (closed[far] == photo[far]).all()


def test_warp_deterministic_and_strength_zero(photo, face) -> None:
    a = warp_face_region(photo, face.box, face.keypoints, 0.37)
    np.testing.assert_array_equal(a, warp_face_region(photo, face.box, face.keypoints, 0.37))
    # Strength 0: no movement, so time no longer matters (only the re-rendering remains).
    s0 = warp_face_region(photo, face.box, face.keypoints, 0.0, strength=0.0)
    s1 = warp_face_region(photo, face.box, face.keypoints, T_OPEN, strength=0.0)
    np.testing.assert_array_equal(s0, s1)
    assert not np.array_equal(s0, photo)  # the re-rendering alone alters the face


def test_warp_without_keypoints_and_at_the_edge(photo, face) -> None:
    h, w = photo.shape[:2]
    a = warp_face_region(photo, face.box, None, 0.0)
    b = warp_face_region(photo, face.box, None, T_OPEN)
    assert a.shape == photo.shape and not np.array_equal(a, b)
    edge = warp_face_region(photo, (-20, h - 50, 80, 80), None, T_OPEN)
    assert edge.shape == photo.shape
    gone = warp_face_region(photo, (w + 100, h + 100, 40, 40), None, T_OPEN)
    np.testing.assert_array_equal(gone, photo)


# --------------------------------------------------------------------------- Face Mesh landmarks as the mask


def _outline_params(seed: int = 0, **changes) -> BlendParams:
    """A full-strength "keypoints" (face-outline) mask with no growth, wobble or blur to speak of."""
    base = sample_blend_params(np.random.default_rng(seed), FULL)
    fields = {"mask_shape": "keypoints", "mask_grow": 1.0, "mask_elastic": 0.0, "mask_blur": 0.01, "blend_ratio": 1.0}
    return dataclasses.replace(base, **{**fields, **changes})


def _signed_distance(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per pixel: distance to the points' convex hull, positive inside, negative outside."""
    hull = cv2.convexHull(points.astype(np.float32))
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True)
                     for x, y in zip(xx.ravel(), yy.ravel())]).reshape(shape)


@pytest.fixture(scope="module")
def mesh_points(photo) -> np.ndarray:
    from dfcore.vision.face_mesh import FaceMesh

    with FaceMesh() as mesh:
        pts = mesh.landmarks(photo)
    assert pts is not None, "Face Mesh should find the astronaut"
    return pts


def test_landmark_mask_follows_the_mesh_hull(photo, face, mesh_points) -> None:
    params = _outline_params()
    out, mask = apply_blend(photo, face.box, face.keypoints, params, landmarks=mesh_points)
    d = _signed_distance(mesh_points, photo.shape[:2])
    blur = params.mask_blur * max(face.box[2], face.box[3])
    margin = 3 * blur + 2
    cx, cy = np.round(mesh_points.mean(axis=0)).astype(int)
    assert mask[cy, cx] > 0.99  # the hull's centre is fully blended
    assert mask[d > margin].min() > 0.95  # well inside the hull: ~1
    assert mask[d < -margin].max() < 0.05  # well outside it: ~0
    diff = np.abs(out.astype(int) - photo).max(axis=2)
    assert (diff[mask == 0] == 0).all()


def test_landmarks_not_the_keypoints_decide_the_outline(photo, face) -> None:
    # Landmarks covering only the upper-left quarter of the face box: the mask follows them,
    # not the box or the keypoints, so the box centre (outside that hull) is left alone.
    x, y, w, h = face.box
    t = np.linspace(0, 2 * np.pi, 468, endpoint=False)
    marks = np.stack([x + w * (0.25 + 0.15 * np.cos(t)), y + h * (0.25 + 0.15 * np.sin(t))], 1).astype(np.float32)
    params = _outline_params()
    _, with_marks = apply_blend(photo, face.box, face.keypoints, params, landmarks=marks)
    assert with_marks[int(y + h * 0.25), int(x + w * 0.25)] > 0.99
    assert with_marks[y + h // 2 + 5, x + w // 2 + 5] < 0.05
    _, without = apply_blend(photo, face.box, face.keypoints, params)
    assert without[y + h // 2 + 5, x + w // 2 + 5] > 0.99  # the keypoint hull covers the whole face
    # Growth, wobble and the blend ratio still apply to the landmark outline.
    _, grown = apply_blend(photo, face.box, face.keypoints, _outline_params(mask_grow=1.3), landmarks=marks)
    assert grown.sum() > 1.3 * with_marks.sum()
    _, half = apply_blend(photo, face.box, face.keypoints, _outline_params(blend_ratio=0.5), landmarks=marks)
    assert half.max() == pytest.approx(0.5, abs=0.01)


def test_without_landmarks_the_blend_is_unchanged(photo, face, mesh_points) -> None:
    for seed in range(6):
        params = sample_blend_params(np.random.default_rng(seed))
        for kps in (face.keypoints, None):
            out, mask = apply_blend(photo, face.box, kps, params)
            out_none, mask_none = apply_blend(photo, face.box, kps, params, landmarks=None)
            np.testing.assert_array_equal(out, out_none)
            np.testing.assert_array_equal(mask, mask_none)
            # The ellipse mask never reads the landmarks.
            ellipse = dataclasses.replace(params, mask_shape="ellipse")
            a = apply_blend(photo, face.box, kps, ellipse)
            b = apply_blend(photo, face.box, kps, ellipse, landmarks=mesh_points)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
    # self_blend (no landmarks) is still sample-then-apply without them.
    out, mask = self_blend(photo, face.box, face.keypoints, np.random.default_rng(4))
    params = sample_blend_params(np.random.default_rng(4))
    np.testing.assert_array_equal(mask, apply_blend(photo, face.box, face.keypoints, params)[1])


# --------------------------------------------------------------------------- the inner-face mask


def test_mesh_indices_are_mediapipes_own() -> None:
    # blend.py keeps its own copy of the outline and brow indices so blending needs no MediaPipe import.
    from mediapipe.python.solutions import face_mesh_connections as conn

    from dfcore.synth import blend

    def points(connections) -> set[int]:
        return {i for pair in connections for i in pair}

    assert set(blend._MESH_FACE_OVAL) == points(conn.FACEMESH_FACE_OVAL)
    assert set(blend._MESH_BROWS) == points(conn.FACEMESH_LEFT_EYEBROW) | points(conn.FACEMESH_RIGHT_EYEBROW)
    assert {blend._MESH_FOREHEAD_TOP, blend._MESH_CHIN} <= set(blend._MESH_FACE_OVAL)
    assert set(blend._MESH_LIPS) == points(conn.FACEMESH_LIPS) and blend._MESH_UPPER_LIP_TOP in blend._MESH_LIPS
    assert set(blend._MESH_LEFT_EYE) == points(conn.FACEMESH_LEFT_EYE)
    assert set(blend._MESH_RIGHT_EYE) == points(conn.FACEMESH_RIGHT_EYE)


def test_inner_face_mask_stops_at_the_brows(photo, face, mesh_points) -> None:
    from mediapipe.python.solutions import face_mesh_connections as conn

    _, whole = apply_blend(photo, face.box, face.keypoints, _outline_params(), landmarks=mesh_points)
    _, inner = apply_blend(photo, face.box, face.keypoints, _outline_params(mask_shape="inner"),
                           landmarks=mesh_points)
    brows = mesh_points[sorted({i for pair in conn.FACEMESH_LEFT_EYEBROW | conn.FACEMESH_RIGHT_EYEBROW
                                for i in pair})]
    top_of_brows, chin = brows[:, 1].min(), mesh_points[152]
    forehead = np.round((brows.mean(axis=0) + mesh_points[10]) / 2).astype(int)  # halfway up the forehead
    assert whole[forehead[1], forehead[0]] > 0.95 and inner[forehead[1], forehead[0]] < 0.05
    assert inner[: int(top_of_brows) - 8].max() < 0.05  # nothing well above the brows
    # Below the brows the two masks are the same face: eyes, nose, mouth and the jaw line down to the chin.
    for i in (33, 263, 1, 13):  # eye corners, nose tip, lips (Face Mesh indices)
        x, y = np.round(mesh_points[i]).astype(int)
        assert inner[y, x] > 0.95, i
    x, y = np.round(chin + (mesh_points[1] - chin) * 0.1).astype(int)  # just inside the chin
    assert inner[y, x] > 0.5
    rows = slice(int(top_of_brows) + 12, None)  # the two hulls differ there only along the edge, by a pixel or two
    assert inner[rows].sum() > 0.95 * whole[rows].sum()
    assert inner.sum() < 0.9 * whole.sum()  # the forehead band it leaves out
    # Without the mesh an inner mask is the keypoint outline, as a "keypoints" one is.
    np.testing.assert_array_equal(
        apply_blend(photo, face.box, face.keypoints, _outline_params(mask_shape="inner"))[1],
        apply_blend(photo, face.box, face.keypoints, _outline_params())[1])


def test_inner_face_prob_splits_the_outline_masks_and_leaves_every_other_draw() -> None:
    # The share is taken from the outline masks' draw, so a recipe without it draws exactly what it drew before.
    base, inner = BlendOptions(keypoint_mask_prob=0.8), BlendOptions(keypoint_mask_prob=0.8, inner_face_prob=0.5)
    a = [sample_blend_params(np.random.default_rng(s), base) for s in range(400)]
    b = [sample_blend_params(np.random.default_rng(s), inner) for s in range(400)]
    for p, q in zip(a, b):
        assert dataclasses.replace(q, mask_shape=p.mask_shape) == p
        assert q.mask_shape == p.mask_shape or (p.mask_shape, q.mask_shape) == ("keypoints", "inner")
    shapes = [q.mask_shape for q in b]
    assert 0.3 < shapes.count("inner") / 400 < 0.5  # 0.8 * 0.5 of the draws
    assert 0.3 < shapes.count("keypoints") / 400 < 0.5
    assert {p.mask_shape for p in a} == {"keypoints", "ellipse"}


def test_the_draw_order_is_pinned() -> None:
    # `make train` reproduces the shipped weights only while a seed draws the same blends: a new option must take
    # its randomness without moving any other draw (values drawn before inner_face_prob existed).
    p = sample_blend_params(np.random.default_rng(0))
    assert p.detail == "blur" and p.mask_shape == "keypoints" and p.mask_seed == 191741830
    np.testing.assert_allclose([p.hue_deg, p.scale, p.rotate_deg, p.mask_grow, p.mask_blur],
                               [-5.508317712765663, 1.0435072423787768, 1.4296171063502774, 1.0259310892859888,
                                0.04790228541743643])


# --------------------------------------------------------------------------- targeted regions and the neural look

NEURAL = {"neural_look": True, "neural_smooth": "bilateral", "neural_smooth_sigma": 0.01, "neural_resample": 0.5,
          "neural_colour_shift": (4.0, -3.0, 2.0)}
TARGETED = BlendOptions(region_probs=(0.25, 0.25, 0.25, 0.25), neural_look_prob=0.5)


def _mesh_ids(*connection_sets) -> list[int]:
    return sorted({i for s in connection_sets for pair in s for i in pair})


def _region_params(region: str, **changes) -> BlendParams:
    """A full-strength mask of ``region`` with a narrow edge and no wobble, so where it reaches is predictable."""
    return _outline_params(region=region, **{"mask_grow": 1.1, "mask_blur": 0.02, **changes})


def _window(point, half: int = 3) -> tuple[slice, slice]:
    x, y = np.round(point).astype(int)
    return slice(y - half, y + half + 1), slice(x - half, x + half + 1)


def test_default_options_draw_the_whole_face_and_leave_the_stream_alone() -> None:
    # Targeted blends draw from generators of their own: every old field, and the caller's generator afterwards,
    # are what a recipe without them gets (so `make train` keeps its blends and its later augmentations).
    for seed in range(200):
        r_old, r_new = np.random.default_rng(seed), np.random.default_rng(seed)
        p, q = sample_blend_params(r_old), sample_blend_params(r_new, TARGETED)
        assert p.region == "face" and not p.neural_look and p.neural_smooth == "none"
        assert p.neural_resample == 1.0 and p.neural_colour_shift == (0.0, 0.0, 0.0)
        old = [f.name for f in dataclasses.fields(BlendParams) if f.name != "region" and "neural" not in f.name]
        assert [getattr(q, k) for k in old] == [getattr(p, k) for k in old]
        assert r_old.uniform() == r_new.uniform()


def test_regions_and_neural_looks_are_drawn_at_their_rates() -> None:
    o = BlendOptions(region_probs=(0.1, 0.5, 0.2, 0.2), neural_look_prob=0.3)
    draws = [sample_blend_params(np.random.default_rng(s), o) for s in range(1000)]
    regions = [d.region for d in draws]
    for region, prob in zip(REGIONS, o.region_probs):
        assert abs(regions.count(region) / 1000 - prob) < 0.05, region
    looks = [d for d in draws if d.neural_look]
    assert abs(len(looks) / 1000 - 0.3) < 0.05
    assert {d.neural_smooth for d in looks} == {"bilateral", "gaussian"}
    for d in looks:
        assert o.neural_resample[0] <= d.neural_resample <= o.neural_resample[1]
        assert o.neural_smooth_sigma[0] <= d.neural_smooth_sigma <= o.neural_smooth_sigma[1]
        assert all(abs(v) <= o.neural_colour_shift for v in d.neural_colour_shift)
    # One region only: every draw is that region.
    assert {sample_blend_params(np.random.default_rng(s), BlendOptions(region_probs=(0, 1, 0, 0))).region
            for s in range(50)} == {"mouth"}


@pytest.mark.parametrize("probs", [(0.5, 0.5, 0.5, 0.0), (1.0, 0.0, 0.0), (1.2, -0.2, 0.0, 0.0)])
def test_bad_region_probs_rejected(probs) -> None:
    with pytest.raises(ValueError, match="region_probs"):
        BlendOptions(region_probs=probs)


def test_bad_neural_look_prob_and_region_rejected(photo, face) -> None:
    with pytest.raises(ValueError, match="neural_look_prob"):
        BlendOptions(neural_look_prob=1.5)
    with pytest.raises(ValueError, match="nose"):
        apply_blend(photo, face.box, face.keypoints, _region_params("nose"))


def test_params_are_json_and_come_back_to_the_same_blend(photo, face, mesh_points) -> None:
    for seed in range(8):
        params = sample_blend_params(np.random.default_rng(seed), TARGETED)
        back = BlendParams(**json.loads(json.dumps(dataclasses.asdict(params))))
        a = apply_blend(photo, face.box, face.keypoints, params, landmarks=mesh_points)
        b = apply_blend(photo, face.box, face.keypoints, back, landmarks=mesh_points)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("region, ids", [
    ("mouth", _mesh_ids(conn.FACEMESH_LIPS)),
    ("eyes", _mesh_ids(conn.FACEMESH_LEFT_EYE, conn.FACEMESH_RIGHT_EYE, conn.FACEMESH_LEFT_EYEBROW,
                       conn.FACEMESH_RIGHT_EYEBROW)),
])
def test_region_mask_covers_its_landmarks_and_not_the_rest(photo, face, mesh_points, region, ids) -> None:
    out, mask = apply_blend(photo, face.box, face.keypoints, _region_params(region), landmarks=mesh_points)
    for i in ids:
        x, y = np.round(mesh_points[i]).astype(int)
        assert mask[y, x] > 0.9, (region, i)
    # The other features keep every pixel: eyes and brows for the mouth, lips and chin for the eyes.
    others = {"mouth": [33, 133, 263, 362, 105, 334, 70, 300],  # eye corners, brows
              "eyes": [0, 17, 61, 291, 152]}[region]  # lips, mouth corners, chin
    diff = np.abs(out.astype(int) - photo).max(axis=2)
    for i in others:
        assert mask[_window(mesh_points[i])].max() < 1e-3, (region, i)
        assert diff[_window(mesh_points[i])].max() == 0, (region, i)
    brows = mesh_points[_mesh_ids(conn.FACEMESH_LEFT_EYEBROW, conn.FACEMESH_RIGHT_EYEBROW)]
    assert mask[: int(brows[:, 1].min()) - 3].max() < 1e-3  # neither reaches the forehead above the brows
    assert (diff[mask == 0] == 0).all()


def test_mouth_region_reaches_the_jaw_but_not_the_nose(photo, face, mesh_points) -> None:
    _, mask = apply_blend(photo, face.box, face.keypoints, _region_params("mouth"), landmarks=mesh_points)
    chin, lip = mesh_points[152], mesh_points[17]
    x, y = np.round((chin + lip) / 2).astype(int)  # between the lower lip and the chin: the jaw moves it
    assert mask[y, x] > 0.95
    assert mask[_window(mesh_points[4], 1)].max() < 0.05  # the nose tip (just above the upper lip) stays
    # The lip-sync mask is far smaller than the whole face's.
    _, whole = apply_blend(photo, face.box, face.keypoints, _region_params("face"), landmarks=mesh_points)
    assert mask.sum() < 0.5 * whole.sum()


def test_inner_region_is_the_inner_face_mask(photo, face, mesh_points) -> None:
    # Region "inner" outlines what the inner_face_prob mask shape does, whatever mask shape was drawn with it.
    for shape in ("keypoints", "ellipse"):
        a = apply_blend(photo, face.box, face.keypoints, _region_params("inner", mask_shape=shape),
                        landmarks=mesh_points)[1]
        b = apply_blend(photo, face.box, face.keypoints, _region_params("face", mask_shape="inner"),
                        landmarks=mesh_points)[1]
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("use_kps", [True, False])
def test_regions_fall_back_to_the_keypoints_without_a_mesh(photo, face, use_kps) -> None:
    # No mesh (or a partial one, which the region indices cannot use): the regions come from the keypoints,
    # or from typical keypoint positions in the box when there are none.
    kps = np.asarray(face.keypoints, np.float32)
    eyes, mouth = kps[:2], kps[3]
    given = face.keypoints if use_kps else None
    # Typical positions are near the true ones, not on them: only the feature's centre must be covered then.
    near = 2 if use_kps else 0
    for landmarks in (None, np.asarray(face.keypoints, np.float32)):
        _, m_mouth = apply_blend(photo, face.box, given, _region_params("mouth"), landmarks=landmarks)
        _, m_eyes = apply_blend(photo, face.box, given, _region_params("eyes"), landmarks=landmarks)
        assert m_mouth[_window(mouth, near)].min() > 0.9 and m_eyes[_window(mouth)].max() < 1e-3
        for eye in eyes:
            assert m_eyes[_window(eye, near)].min() > 0.9 and m_mouth[_window(eye)].max() < 1e-3
        assert m_mouth[: int(eyes[:, 1].max())].max() < 1e-3  # nothing of the mouth's above the eyes
        assert m_eyes[int(mouth[1]):].max() < 1e-3  # nothing of the eyes' below the mouth
    _, m_inner = apply_blend(photo, face.box, given, _region_params("inner"))
    assert m_inner[_window(mouth, near)].min() > 0.9 and all(m_inner[_window(e, near)].min() > 0.9 for e in eyes)


def test_mouth_blend_leaves_the_rest_of_the_frame(photo, face, mesh_points) -> None:
    # What lip-sync leaves: every pixel away from the mouth and jaw, for every draw (grow, wobble, widest blur).
    o = BlendOptions(region_probs=(0, 1, 0, 0), neural_look_prob=0.5, blend_ratios=(1.0,))
    top_of_mouth = mesh_points[_mesh_ids(conn.FACEMESH_LIPS)][:, 1].min()
    for seed in range(12):
        params = sample_blend_params(np.random.default_rng(seed), o)
        for lm in (mesh_points, None):
            out, mask = apply_blend(photo, face.box, face.keypoints, params, landmarks=lm)
            diff = np.abs(out.astype(int) - photo).max(axis=2)
            assert diff[mask > 0.5].mean() > 1.0, seed  # the mouth is altered
            eye_band = slice(0, int(max(face.keypoints[0][1], face.keypoints[1][1])) + 4)
            assert diff[eye_band].max() == 0, (seed, lm is None)
            if lm is not None:
                rows = slice(0, int(top_of_mouth) - int(0.25 * face.box[3]))
                assert diff[rows].max() == 0, seed


def test_neural_look_changes_only_the_masked_region(photo, face, mesh_points) -> None:
    for region in REGIONS:
        plain = _region_params(region, detail="none", mask_blur=0.03)
        looked = dataclasses.replace(plain, **NEURAL)
        out_p, mask_p = apply_blend(photo, face.box, face.keypoints, plain, landmarks=mesh_points)
        out_n, mask_n = apply_blend(photo, face.box, face.keypoints, looked, landmarks=mesh_points)
        np.testing.assert_array_equal(mask_p, mask_n)  # the look is on the source, never on the mask
        change = np.abs(out_n.astype(int) - out_p).max(axis=2)
        assert (change[mask_n == 0] == 0).all() and (out_n[mask_n == 0] == photo[mask_n == 0]).all(), region
        inside = mask_n > 0.99
        assert change[inside].mean() > 1.0, region
        # It smooths: less fine detail (Laplacian energy) inside the region than the plain source copy has.
        lap = [np.abs(cv2.Laplacian(cv2.cvtColor(o, cv2.COLOR_RGB2GRAY), cv2.CV_32F))[inside].mean()
               for o in (out_p, out_n)]
        assert lap[1] < 0.8 * lap[0], (region, lap)


def test_neural_look_colour_shift_under_either_smoothing(photo, face) -> None:
    plain = _region_params("face", detail="none")
    outs = {}
    for smooth in ("bilateral", "gaussian"):
        # A wide smoothing (4% of the face) so the two kinds differ visibly on this small face.
        shifted = dataclasses.replace(plain, **{**NEURAL, "neural_smooth": smooth, "neural_smooth_sigma": 0.04,
                                                "neural_colour_shift": (8.0, 0.0, -8.0)})
        unshifted = dataclasses.replace(shifted, neural_colour_shift=(0.0, 0.0, 0.0))
        a, mask = apply_blend(photo, face.box, face.keypoints, shifted)
        b, _ = apply_blend(photo, face.box, face.keypoints, unshifted)
        inside = mask > 0.99
        np.testing.assert_allclose((a.astype(float) - b)[inside].mean(axis=0), [8.0, 0.0, -8.0], atol=0.6)
        outs[smooth] = b
    assert np.abs(outs["bilateral"].astype(int) - outs["gaussian"]).max() > 5  # two different smoothings


def test_same_params_follow_a_moving_face(photo, face, mesh_points) -> None:
    # Temporal consistency: one params on every frame of a clip blends the same region the same way, wherever
    # the face moves; here the whole frame moves by (dx, dy) and the blend moves with it.
    dx, dy = 9, 6
    moved = np.roll(photo, (dy, dx), axis=(0, 1))
    box = (face.box[0] + dx, face.box[1] + dy, face.box[2], face.box[3])
    kps = [(x + dx, y + dy) for x, y in face.keypoints]
    for seed, region in enumerate(REGIONS):
        params = dataclasses.replace(sample_blend_params(np.random.default_rng(seed), FULL), region=region, **NEURAL)
        for lm in (mesh_points, None):
            a, ma = apply_blend(photo, face.box, face.keypoints, params, landmarks=lm)
            b, mb = apply_blend(moved, box, kps, params, landmarks=None if lm is None else lm + np.float32([dx, dy]))
            assert ma.max() > 0.9
            np.testing.assert_allclose(mb[dy:, dx:], ma[:-dy, :-dx], atol=2e-3)
            assert np.abs(b[dy:, dx:].astype(int) - a[:-dy, :-dx]).max() <= 1, (region, lm is None)
