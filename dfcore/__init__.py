"""dfcore: the deepfake detection core behind Deepfake Lens (no UI code here)."""

__version__ = "0.1.0"

from .analyze import AnalysisResult, FrameResult, analyze_video  # noqa: E402
from .decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, VERDICTS  # noqa: E402
from .models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from .media.clip_memory import ClipMemory  # noqa: E402
from .models.detector import Detector, load_detector  # noqa: E402
from .errors import (  # noqa: E402
    AnalysisTimeoutError,
    DatasetError,
    DfcoreError,
    InputNotFoundError,
    NoFaceFoundError,
    NoWeightsInstalledError,
    UnsupportedFormatError,
    VideoDecodeError,
    WeightsError,
)
from .models.explain import ExplainOptions  # noqa: E402
from .models.model import ModelConfig, create_model  # noqa: E402
from .vision.preprocessing import PreprocessConfig  # noqa: E402

__all__ = [
    "__version__", "analyze_video", "AnalysisResult", "FrameResult", "FAKE", "UNCERTAIN", "NO_SIGN", "NO_FACE", "VERDICTS", "ClipMemory",
    "Detector", "load_detector", "load_checkpoint", "save_checkpoint", "create_model", "ModelConfig",
    "PreprocessConfig", "ExplainOptions", "DfcoreError", "InputNotFoundError", "UnsupportedFormatError",
    "VideoDecodeError", "NoFaceFoundError", "WeightsError", "NoWeightsInstalledError", "DatasetError",
    "AnalysisTimeoutError",
]
