"""dfcore: the deepfake detection core behind Deepfake Lens (no UI code here).

The public names below are imported on first use (PEP 562), not with the package: analysis needs MediaPipe
and PyAV, but a training run on a machine without them (``dfcore.training.gpu.run``) imports only the
modules it uses. ``from dfcore import analyze_video`` and ``dfcore.load_detector`` work as before.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module (relative to this package) that defines it.
_EXPORTS = {
    "analyze_video": ".analyze", "AnalysisResult": ".analyze", "FrameResult": ".analyze",
    "FAKE": ".decision", "UNCERTAIN": ".decision", "NO_SIGN": ".decision", "NO_FACE": ".decision",
    "VERDICTS": ".decision",
    "load_checkpoint": ".models.checkpoint", "save_checkpoint": ".models.checkpoint",
    "ClipMemory": ".media.clip_memory", "FeatureMemory": ".models.feature_memory",
    "Detector": ".models.detector", "load_detector": ".models.detector",
    "AnalysisTimeoutError": ".errors", "DatasetError": ".errors", "DfcoreError": ".errors",
    "InputNotFoundError": ".errors", "NoFaceFoundError": ".errors", "NoWeightsInstalledError": ".errors",
    "UnsupportedFormatError": ".errors", "VideoDecodeError": ".errors", "WeightsError": ".errors",
    "ExplainOptions": ".models.explain",
    "ModelConfig": ".models.model", "create_model": ".models.model",
    "PreprocessConfig": ".vision.preprocessing",
}
# Subpackages the eager import used to make reachable as attributes (``dfcore.media.video_io``): reaching one
# that nothing has imported yet loads every module the package used to import, as it did.
_SUBPACKAGES = ("analyze", "decision", "errors", "media", "models", "vision")

__all__ = ["__version__", *_EXPORTS]


def _load_all() -> None:
    for module in sorted(set(_EXPORTS.values())):
        importlib.import_module(module, __name__)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:
        _load_all()
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
