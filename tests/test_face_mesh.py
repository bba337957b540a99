"""dfcore.vision.face_mesh: MediaPipe Face Mesh landmarks on the synthetic astronaut still, and on images without a face."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfcore.vision.face_mesh import N_LANDMARKS, FaceMesh, MeshOptions
from dfcore.vision.faces import FaceDetector
from dfcore.synth.samples import REAL_STILL

SHIPPED_STILL = Path(__file__).resolve().parents[1] / "sample_videos" / REAL_STILL  # made by `python -m dfcore samples`


@pytest.fixture(scope="module")
def mesh():
    with FaceMesh() as m:
        yield m


@pytest.mark.parametrize("still", ["shipped", "generated"])
def test_landmarks_on_the_astronaut(mesh: FaceMesh, request: pytest.FixtureRequest, still: str) -> None:
    if still == "shipped":
        face_frame = cv2.cvtColor(cv2.imread(str(SHIPPED_STILL)), cv2.COLOR_BGR2RGB)
    else:
        face_frame = request.getfixturevalue("face_frame")  # the same still, generated small for the tests
    pts = mesh.landmarks(face_frame)
    assert pts is not None
    assert pts.shape == (N_LANDMARKS, 2) == (468, 2) and pts.dtype == np.float32
    h, w = face_frame.shape[:2]
    assert (pts[:, 0] >= 0).all() and (pts[:, 0] < w).all()
    assert (pts[:, 1] >= 0).all() and (pts[:, 1] < h).all()
    # The mesh sits on the face the detector finds: centred in its box, nearly all within it
    # grown by a quarter (the mesh reaches a little above the box, to the forehead).
    with FaceDetector() as det:
        faces = det.detect(face_frame)
    assert faces
    x, y, bw, bh = faces[0].box
    cx, cy = pts.mean(axis=0)
    assert x <= cx <= x + bw and y <= cy <= y + bh
    gx, gy = bw / 4, bh / 4
    near = (pts[:, 0] >= x - gx) & (pts[:, 0] <= x + bw + gx) & (pts[:, 1] >= y - gy) & (pts[:, 1] <= y + bh + gy)
    assert near.mean() > 0.95
    # The mesh covers the face, not a point of it: its extent is comparable to the box.
    span_x, span_y = np.ptp(pts, axis=0)
    assert 0.6 * bw <= span_x <= 1.5 * bw and 0.6 * bh <= span_y <= 1.6 * bh


def test_landmarks_are_deterministic(mesh: FaceMesh, face_frame: np.ndarray) -> None:
    a = mesh.landmarks(face_frame)
    b = mesh.landmarks(face_frame.copy())
    np.testing.assert_allclose(a, b, atol=1e-3)  # static mode: every image searched afresh, same answer


def test_landmarks_follow_the_face(mesh: FaceMesh, face_frame: np.ndarray) -> None:
    pts = mesh.landmarks(face_frame)
    shift = 24
    moved = np.zeros_like(face_frame)
    moved[:, shift:] = face_frame[:, :-shift]  # the whole picture moved right
    pts_moved = mesh.landmarks(moved)
    assert pts_moved is not None
    assert np.median(pts_moved[:, 0] - pts[:, 0]) == pytest.approx(shift, abs=3)
    assert np.median(pts_moved[:, 1] - pts[:, 1]) == pytest.approx(0, abs=3)


@pytest.mark.parametrize("kind", ["grey", "noise"])
def test_no_face_gives_none(mesh: FaceMesh, kind: str) -> None:
    if kind == "grey":
        image = np.full((240, 320, 3), 128, np.uint8)
    else:
        image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert mesh.landmarks(image) is None


def test_closed_mesh_raises(face_frame: np.ndarray) -> None:
    with FaceMesh(MeshOptions(min_confidence=0.5)) as m:
        assert m.landmarks(face_frame) is not None
    with pytest.raises(RuntimeError, match="closed"):
        m.landmarks(face_frame)
    m.close()  # closing twice is harmless
    m2 = FaceMesh()
    m2.close()
    with pytest.raises(RuntimeError, match="closed"):
        m2.landmarks(face_frame)


def test_meshing_a_face_prints_no_third_party_lines_unless_verbose() -> None:
    """Training meshes every cached face: MediaPipe's start-up lines (and the landmark subgraph's first-face line)
    stay off the console, as they do for analysis; DFCORE_VERBOSE=1 lets them through."""
    code = ("import cv2\nfrom dfcore.vision.face_mesh import FaceMesh\n"
            f"img = cv2.cvtColor(cv2.imread({str(SHIPPED_STILL)!r}), cv2.COLOR_BGR2RGB)\n"
            "with FaceMesh() as m:\n    assert m.landmarks(img) is not None and m.landmarks(img) is not None\n"
            "print('meshed')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL",
                                                           "DFCORE_VERBOSE")}
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stdout == "meshed\n", quiet.stderr
    assert quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", code], env={**env, "DFCORE_VERBOSE": "1"}, capture_output=True,
                          text=True, timeout=120)
    assert loud.returncode == 0 and "W0000" in loud.stderr
