"""MediaPipe Face Mesh: 468 facial landmarks, for the self-blending masks of training.

The mesh follows the face's real outline (jaw, chin, hairline), so a mask
drawn from it covers the face the way a face swap's blending mask does; the six
detection keypoints only approximate it. Analysis never needs the mesh: only
training crops are meshed, once, and the landmarks are cached with them.
The Face Mesh model ships inside the mediapipe 0.10.21 wheel.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from .native_logs import native_stderr_silenced, quiet_environment

quiet_environment()  # MediaPipe's C++ side logs to stderr; its loggers read their level at import

import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402

N_LANDMARKS = 468  # Face Mesh points without iris refinement
_WARM_UP_IMAGE = np.zeros((64, 64, 3), np.uint8)  # the graph's first run on it prints MediaPipe's start-up lines


@dataclass(frozen=True)
class MeshOptions:
    min_confidence: float = 0.5  # face detection confidence inside Face Mesh; below it, no landmarks


class FaceMesh:
    """Face Mesh on single images (static mode: every image is searched afresh).

    Use as a context manager so MediaPipe's graph is released::

        with FaceMesh() as mesh:
            points = mesh.landmarks(image)
    """

    def __init__(self, options: MeshOptions | None = None) -> None:
        self.options = options or MeshOptions()
        # MediaPipe and TFLite print their start-up lines to fd 2 from the graph's own threads when it first
        # runs: build it and run it once on a blank image with fd 2 silenced (as the face detector does).
        with native_stderr_silenced():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                min_detection_confidence=self.options.min_confidence,
            )
            self._mesh.process(_WARM_UP_IMAGE)
        # The landmark subgraph prints one more line (landmark_projection_calculator) the first time it meets a
        # face, which a blank image never shows it: calls stay silenced until a face has been found.
        self._face_seen = False

    def landmarks(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """The landmarks of the most prominent face.

        Args:
            image_rgb: (H, W, 3) uint8 RGB image.

        Returns:
            (468, 2) float32 pixel coordinates (x, y), or None when no face is found.

        Raises:
            RuntimeError: the mesh was closed.
        """
        if self._mesh is None:
            raise RuntimeError("this FaceMesh is closed")
        if self._face_seen:
            result = self._mesh.process(np.ascontiguousarray(image_rgb))
        else:
            with native_stderr_silenced():
                result = self._mesh.process(np.ascontiguousarray(image_rgb))
        if not result.multi_face_landmarks:
            return None
        self._face_seen = True
        h, w = image_rgb.shape[:2]
        pts = result.multi_face_landmarks[0].landmark
        return np.array([(p.x * w, p.y * h) for p in pts[:N_LANDMARKS]], np.float32)

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> "FaceMesh":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
