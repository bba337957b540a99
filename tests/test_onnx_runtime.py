"""ONNX Runtime for the per-frame CNN: same outputs as PyTorch, a checked cache, clear refusals.

The committed models' outputs under both runtimes are pinned by test_golden.py; these use the
untrained plumbing checkpoint (conftest) and compare the two runtimes with each other.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dfcore import load_detector
from dfcore.cli import main
from dfcore.errors import OptionalDependencyError
from dfcore.models import onnx_runtime
from dfcore.models.explain import gradcam_maps
from dfcore.models.onnx_runtime import OnnxBackbone, default_runtime, resolve_runtime
from dfcore.vision.preprocessing import to_tensor

TOL = 1e-4


@pytest.fixture(scope="module")
def both(checkpoint: Path):
    return load_detector(checkpoint, device="cpu", runtime="torch"), load_detector(checkpoint, device="cpu",
                                                                                   runtime="onnx")


def test_default_runtime_is_onnx_on_the_cpu_when_installed(checkpoint: Path) -> None:
    assert default_runtime(torch.device("cpu")) == "onnx"
    assert default_runtime(torch.device("cuda")) == "torch"
    assert load_detector(checkpoint, device="cpu").runtime == "onnx"


def test_runtimes_give_the_same_features_and_scores(both, random_crops: np.ndarray) -> None:
    torch_det, onnx_det = both
    f_t, f_o = torch_det.features(random_crops), onnx_det.features(random_crops)
    assert f_o.shape == f_t.shape and torch.allclose(f_o, f_t, atol=TOL, rtol=1e-3)
    s_t, s_o = torch_det.score(random_crops), onnx_det.score(random_crops)
    assert s_o.clip_probability == pytest.approx(s_t.clip_probability, abs=TOL)
    np.testing.assert_allclose(s_o.frame_probabilities, s_t.frame_probabilities, atol=TOL)


@pytest.mark.parametrize("stage", ["layer4", "layer3"])
def test_kept_stage_maps_and_gradcam_agree_across_runtimes(both, random_crops: np.ndarray, stage: str) -> None:
    torch_det, onnx_det = both
    s_t = torch_det.score(random_crops, keep_stage=stage)
    s_o = onnx_det.score(random_crops, keep_stage=stage)
    assert s_o.stage == stage and s_o.stage_maps.shape == s_t.stage_maps.shape
    assert torch.allclose(s_o.stage_maps, s_t.stage_maps, atol=TOL, rtol=1e-3)
    assert s_o.clip_probability == pytest.approx(s_t.clip_probability, abs=TOL)
    cam_t = gradcam_maps(torch_det, random_crops, True, stage, stage_maps=s_t.stage_maps)
    cam_o = gradcam_maps(onnx_det, random_crops, True, stage, stage_maps=s_o.stage_maps)
    np.testing.assert_allclose(cam_o, cam_t, atol=1e-3)


def test_graph_is_cached_under_the_checkpoint_hash_and_reused(both, random_crops: np.ndarray) -> None:
    _, onnx_det = both
    onnx_det.features(random_crops)
    path = onnx_det._onnx.graph_path(None)
    assert path.is_file() and onnx_det.sha256 in path.name
    assert not list(path.parent.glob("*.tmp")), "no half-written graph is left behind"
    fresh = OnnxBackbone(onnx_det.model.backbone, onnx_det.preprocess.input_size, onnx_det.sha256, threads=1)
    inode, before = path.stat().st_ino, path.stat().st_mtime_ns
    os.utime(path, ns=(before - 10**9, before - 10**9))
    fresh.session(None)
    assert path.stat().st_ino == inode, "a good cached graph is read, not exported again (which writes a new file)"
    assert path.stat().st_mtime_ns > before - 10**9, "and marked as used now, for the cache's trimming"


def test_the_graph_cache_drops_the_least_recently_used_graphs(tmp_path: Path) -> None:
    graphs = []
    for i, age_s in enumerate([50, 10, 40, 30]):  # seconds since last use
        p = tmp_path / f"g{i}.onnx"
        p.write_bytes(b"x" * 1000)
        t = time.time() - age_s
        os.utime(p, (t, t))
        graphs.append(p)
    (tmp_path / "notes.txt").write_bytes(b"y" * 5000)  # not a graph: never counted or touched
    deleted = onnx_runtime.trim_graph_cache(tmp_path, 2500, keep=graphs[0])
    assert deleted == [graphs[2]] + [graphs[3]], "the oldest, g0, is the one just written: kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g0.onnx", "g1.onnx", "notes.txt"]
    assert onnx_runtime.trim_graph_cache(tmp_path, 10**6) == []


def test_a_damaged_cached_graph_is_exported_again(checkpoint: Path, random_crops: np.ndarray) -> None:
    det = load_detector(checkpoint, device="cpu", runtime="onnx")
    path = det._onnx.graph_path("layer2")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an onnx graph")
    maps = det.score(random_crops, keep_stage="layer2").stage_maps
    want = load_detector(checkpoint, device="cpu", runtime="torch").score(random_crops, keep_stage="layer2").stage_maps
    assert torch.allclose(maps, want, atol=TOL, rtol=1e-3)
    assert path.read_bytes() != b"not an onnx graph"


def test_a_graph_that_disagrees_with_pytorch_is_refused(checkpoint: Path, random_crops: np.ndarray,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    det = load_detector(checkpoint, device="cpu", runtime="onnx")  # the features' graph is built at load
    monkeypatch.setattr(onnx_runtime, "_agrees", lambda session, probe, want: False)
    with pytest.raises(RuntimeError, match="disagrees with PyTorch"):
        det.score(random_crops, keep_stage="layer3")  # a stage graph is built when first asked for
    with pytest.raises(RuntimeError, match="disagrees with PyTorch"):
        load_detector(checkpoint, device="cpu", runtime="onnx")


def test_runtime_choices_are_checked() -> None:
    cpu = torch.device("cpu")
    assert resolve_runtime("torch", cpu) == "torch" and resolve_runtime("onnx", cpu) == "onnx"
    with pytest.raises(ValueError, match="unknown runtime"):
        resolve_runtime("tensorrt", cpu)
    with pytest.raises(ValueError, match="CPU only"):
        resolve_runtime("onnx", torch.device("cuda"))


def test_missing_onnxruntime_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_runtime, "onnx_runtime_installed", lambda: False)
    assert default_runtime(torch.device("cpu")) == "torch"
    with pytest.raises(OptionalDependencyError, match="ONNX Runtime is not installed"):
        resolve_runtime("onnx", torch.device("cpu"))


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_batch_worker_processes_use_the_runtime_asked_for(tmp_path: Path, face_image: Path, checkpoint: Path,
                                                          runtime: str) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(face_image), "--out", str(out), "--frames", "1", "--weights", str(checkpoint),
                 "--workers", "1", "--threads", "1", "--no-progress", "--runtime", runtime]) == 0
    line = json.loads(out.read_text().splitlines()[0])
    assert line["error"] is None and line["model"]["runtime"] == runtime


def test_graphs_exported_from_several_threads_at_once_all_agree(checkpoint: Path, random_crops: np.ndarray,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.onnx.export is process-global: a load and a Grad-CAM job exporting at once must both succeed."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("DFCORE_CACHE_DIR", str(tmp_path))  # an empty cache: every graph is exported now
    det = load_detector(checkpoint, device="cpu", runtime="torch")
    want = {s: det.score(random_crops, keep_stage=s).stage_maps for s in ("layer2", "layer3", "layer4")}
    backbones = [OnnxBackbone(det.model.backbone, det.preprocess.input_size, "", threads=1) for _ in range(3)]
    x = to_tensor(random_crops, det.preprocess).numpy()
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda job: job[0].stage_output(x, job[1]), zip(backbones, want)))
    for maps, (stage, ref) in zip(got, want.items()):
        np.testing.assert_allclose(maps, ref.numpy(), atol=TOL, rtol=1e-3, err_msg=stage)
