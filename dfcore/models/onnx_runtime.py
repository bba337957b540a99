"""ONNX Runtime for the per-frame CNN: the same backbone, exported once per checkpoint, run 2-3x faster on the CPU.

Only the backbone runs here (crops -> features, or crops -> one stage's activation map for
Grad-CAM); the LSTM and the heads are a few milliseconds and stay in PyTorch, as does
Grad-CAM's backward pass, which needs gradients.

The graph is exported from the loaded checkpoint's own backbone at first use (``torch.onnx``
with the TorchScript exporter, which needs the ``onnx`` package) and kept in a user cache
(``$DFCORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dfcore``, else ``~/.cache/dfcore``) under the
checkpoint's sha256, so nothing is built by hand and a fresh clone works as soon as the pinned
requirements are installed. Every session is checked against PyTorch on a probe batch when it
is created; a graph that disagrees (a stale or damaged cache file) is exported afresh, and one
that still disagrees is refused, so the runtime can never silently change a score.

Why a graph per output: asking one graph for the features *and* the intermediate stage maps
blocks ONNX Runtime's layer fusions; on EfficientNet-Lite0 that doubled its time. Each graph
here has exactly one output.
"""

from __future__ import annotations

import importlib.util
import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import OptionalDependencyError
from .model import STAGES

RUNTIMES = ("torch", "onnx")
RUNTIME_ENV = "DFCORE_RUNTIME"  # the runtime when none is passed (see resolve_runtime)
OPSET = 17
GRAPH_VERSION = 1  # bump when the exported graph's layout changes: old cache files are then never read
PROBE_CROPS = 2  # crops in the probe batch every new session is checked on
# ONNX Runtime and PyTorch fuse and order float32 sums differently; features agree to ~1e-5.
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-4
# The graph cache keeps the most recently used graphs up to this size: a graph is ~13 MB (Lite0's features) and
# every checkpoint has its own, so without a bound each retrained or recalibrated checkpoint would stay on disk
# for good (one developer's cache had reached 36 graphs, 475 MB). Three installed models with Grad-CAM at every
# layer take about 150 MB.
GRAPH_CACHE_BYTES = 256 << 20
# torch.onnx.export keeps its settings in process-wide globals: two exports at once (a model loading while
# a Grad-CAM job builds a stage's graph, two detectors loading) break each other. One export at a time.
_EXPORT_LOCK = threading.Lock()


def onnx_runtime_installed() -> bool:
    """True when ``onnxruntime`` can be imported (the runtime; exporting also needs ``onnx``)."""
    return importlib.util.find_spec("onnxruntime") is not None


def default_runtime(device: torch.device | None = None) -> str:
    """``"onnx"`` on the CPU when ONNX Runtime is installed, else ``"torch"``."""
    on_cpu = device is None or device.type == "cpu"
    return "onnx" if on_cpu and onnx_runtime_installed() else "torch"


def resolve_runtime(runtime: str | None, device: torch.device) -> str:
    """The runtime to use: ``runtime`` checked; when None, ``$DFCORE_RUNTIME`` if set, else the default.

    The environment variable carries ``--runtime`` into a batch's worker processes and lets the
    dashboard and the API be switched without a flag.

    Raises:
        ValueError: an unknown runtime, or ``onnx`` on a non-CPU device.
        OptionalDependencyError: ``onnx`` asked for and ONNX Runtime not installed.
    """
    if runtime is None:
        runtime = os.environ.get(RUNTIME_ENV) or None
    if runtime is None:
        return default_runtime(device)
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {RUNTIMES}")
    if runtime == "onnx":
        if device.type != "cpu":
            raise ValueError(f"the onnx runtime runs on the CPU only; use --runtime torch on {device.type}")
        if not onnx_runtime_installed():
            raise OptionalDependencyError(None, "ONNX Runtime is not installed",
                                          "Install the pinned requirements (pip install -r requirements.txt), "
                                          "or use --runtime torch.")
    return runtime


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$DFCORE_CACHE_DIR``, ``$XDG_CACHE_HOME/dfcore`` or ``~/.cache/dfcore``."""
    env = os.environ.get("DFCORE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dfcore"


class _UpTo(nn.Module):
    """The backbone up to ``stage``'s output (a map), or whole with its pooling (None: the features)."""

    def __init__(self, backbone: nn.Module, stage: str | None) -> None:
        super().__init__()
        self.backbone = backbone
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone.stem(x)
        for name in STAGES:
            x = getattr(self.backbone, name)(x)
            if name == self.stage:
                return x
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class OnnxBackbone:
    """A checkpoint's backbone in ONNX Runtime: one lazily built session per output.

    Sessions are thread-safe to run; building them is serialised.

    Args:
        backbone: the eval-mode PyTorch backbone (the reference the graphs are exported from and checked against).
        input_size: the crops' side in pixels.
        key: the checkpoint's sha256, naming its cached graphs; "" keeps them in memory only.
        threads: ONNX Runtime's intra-op threads; None: torch's current thread count.
    """

    def __init__(self, backbone: nn.Module, input_size: int, key: str, threads: int | None = None) -> None:
        if backbone.training:
            raise ValueError("export only an eval-mode backbone")
        self.backbone = backbone
        self.input_size = int(input_size)
        self.key = key
        self.threads = int(threads or torch.get_num_threads())
        self._sessions: dict[str | None, object] = {}
        self._lock = threading.Lock()

    def features(self, x: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 normalised crops -> (N, F) features."""
        return self._run(None, x)

    def stage_output(self, x: np.ndarray, stage: str) -> np.ndarray:
        """(N, 3, S, S) float32 normalised crops -> (N, C, h, w), the output of backbone stage ``stage``."""
        if stage not in STAGES:
            raise ValueError(f"unknown backbone stage {stage!r}; choose one of {STAGES}")
        return self._run(stage, x)

    def _run(self, stage: str | None, x: np.ndarray) -> np.ndarray:
        session = self.session(stage)
        return session.run(None, {"crops": np.ascontiguousarray(x, dtype=np.float32)})[0]

    def session(self, stage: str | None = None):  # -> onnxruntime.InferenceSession (imported lazily)
        """The checked session for ``stage`` (None: the features), built at first use.

        Raises:
            OptionalDependencyError: ONNX Runtime, or ``onnx`` for a first export, is not installed.
            RuntimeError: the exported graph disagrees with PyTorch even when freshly exported.
        """
        s = self._sessions.get(stage)
        if s is not None:
            return s
        with self._lock:
            if stage not in self._sessions:
                self._sessions[stage] = self._build(stage)
            return self._sessions[stage]

    def graph_path(self, stage: str | None) -> Path | None:
        """The cache file of ``stage``'s graph (None when the checkpoint has no sha256 to name it by)."""
        if not self.key:
            return None
        name = f"{self.key}-{stage or 'features'}-{self.input_size}px-g{GRAPH_VERSION}-torch{torch.__version__}.onnx"
        return cache_dir() / "onnx" / name.replace("+", "_")

    def _build(self, stage: str | None):
        path = self.graph_path(stage)
        probe = _probe_batch(self.input_size)
        with torch.no_grad():
            want = _UpTo(self.backbone, stage).eval()(torch.from_numpy(probe)).numpy()
        if path is not None and path.is_file():
            session = self._cached_session(path)
            if session is not None and _agrees(session, probe, want):
                return session
            # A stale or damaged cache file: export it again rather than trust it.
        graph = self.export(stage)
        session = self._session(graph)
        if not _agrees(session, probe, want):
            raise RuntimeError(f"the ONNX graph of {stage or 'the features'} disagrees with PyTorch; "
                               "use --runtime torch")
        if path is not None:
            _save(path, graph)
        return session

    def _cached_session(self, path: Path):
        """A session of the cached graph at ``path``; None when it cannot be read or loaded."""
        try:
            graph = path.read_bytes()
            os.utime(path)  # used now: the cache drops the least recently used graphs first
            return self._session(graph)
        except OptionalDependencyError:
            raise
        except Exception:  # noqa: BLE001 - ONNX Runtime's load errors derive from Exception itself; all mean "re-export"
            return None

    def export(self, stage: str | None = None) -> bytes:
        """The float32 ONNX graph of ``stage``'s output (None: the features), freshly exported, as bytes.

        Raises:
            OptionalDependencyError: the ``onnx`` package, which the exporter imports, is not installed.
        """
        if importlib.util.find_spec("onnx") is None:
            raise OptionalDependencyError(None, "exporting the CNN for ONNX Runtime needs the onnx package",
                                          "Install the pinned requirements (pip install -r requirements.txt), "
                                          "or use --runtime torch.")
        module = _UpTo(self.backbone, stage).eval()
        dummy = torch.from_numpy(_probe_batch(self.input_size))
        buf = io.BytesIO()
        with _EXPORT_LOCK, warnings.catch_warnings():
            # The TorchScript exporter warns that it is the legacy one; the dynamo exporter needs onnxscript.
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (dummy,), buf, dynamo=False, opset_version=OPSET, input_names=["crops"],
                              output_names=["out"], dynamic_axes={"crops": {0: "n"}, "out": {0: "n"}})
        self.backbone.eval()  # the exporter restores modes itself; make sure the shared backbone stays in eval
        return buf.getvalue()

    def _session(self, graph: bytes):
        return cpu_session(graph, self.threads)


def cpu_session(graph: bytes, threads: int):  # -> onnxruntime.InferenceSession (imported lazily)
    """An ONNX Runtime CPU session of ``graph`` with dfcore's settings: ``threads`` intra-op threads, quiet, no spinning.

    Raises:
        OptionalDependencyError: ONNX Runtime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise OptionalDependencyError(None, "ONNX Runtime is not installed",
                                      "Install the pinned requirements, or use --runtime torch.") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: its own info lines are not ours to print
    # Idle worker threads sleep instead of spinning: on 2 shared cores a spinning pool takes CPU from
    # decoding and face search in this process and from other analyses (measured: same wall time, ~30% less CPU).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def _probe_batch(size: int) -> np.ndarray:
    """A fixed, seeded batch of normalised-looking crops."""
    return np.random.default_rng(0).normal(0.0, 1.0, (PROBE_CROPS, 3, size, size)).astype(np.float32)


def _agrees(session, probe: np.ndarray, want: np.ndarray) -> bool:
    try:
        got = session.run(None, {"crops": probe})[0]
    except Exception:  # noqa: BLE001 - ONNX Runtime's run errors derive from Exception itself; all mean "re-export"
        return False
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=PROBE_RTOL, atol=PROBE_ATOL))


def _save(path: Path, graph: bytes) -> None:
    """Write the graph atomically, then trim the cache; a cache that cannot be written only costs an export next time."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(graph)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return
    trim_graph_cache(path.parent, GRAPH_CACHE_BYTES, keep=path)


def trim_graph_cache(folder: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used graphs in ``folder`` until the rest take at most ``max_bytes``.

    Another process may be about to read a graph deleted here: it then exports that graph again
    (a cache miss), which is all a deleted graph ever costs.

    Args:
        folder: the cache's ``onnx`` folder.
        max_bytes: what the graphs left may take together.
        keep: a graph never deleted (the one just written), whatever its size.

    Returns:
        The graphs deleted, oldest first.
    """
    graphs = []
    for p in folder.glob("*.onnx"):
        try:
            st = p.stat()
        except OSError:  # deleted meanwhile by another process trimming too
            continue
        graphs.append((st.st_mtime, st.st_size, p))
    graphs.sort()
    total = sum(size for _, size, _ in graphs)
    deleted = []
    for _, size, p in graphs:
        if total <= max_bytes:
            break
        if keep is not None and p == keep:
            continue
        try:
            p.unlink()
        except OSError:
            continue
        total -= size
        deleted.append(p)
    return deleted
