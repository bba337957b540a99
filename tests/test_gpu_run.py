"""The GPU training path (``make train-gpu``): the bundle, the run, and that neither needs MediaPipe or PyAV.

Faces are drawn here (ellipses with eyes and a mouth), never cut from research data. The runs are tiny
(batch 8, 3 steps, one worker, on the CPU): they test plumbing, files and lineage, not detection quality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dfcore.models.backbones import load_lite0_imagenet
from dfcore.models.checkpoint import load_checkpoint, save_checkpoint
from dfcore.models.model import create_model
from dfcore.training.gpu.bundle import BundleConfig, load_bundle, pack
from dfcore.training.sources.face_cache import CropSet
from dfcore.training.gpu.run import EXCLUDED_FAKES, LOG_NAME, RUN_NAMES, Pools, few_items, plan
from dfcore.training.webcam_augment import apply_webcam, sample_webcam
from dfcore.vision.preprocessing import PreprocessConfig

REPO = Path(__file__).resolve().parent.parent
SIZE, MARGIN = 240, 0.9  # the face cache's regions
# (source, label, frames): clips of each kind the runs leave out, and reals
ITEMS = {
    "ffpp_train": [("ffpp/original", 0, 4), ("ffpp/original", 0, 4), ("ffpp/FaceSwap", 1, 4), ("ffpp/Face2Face", 1, 4)],
    "th_train": [("talking_heads/DeepFaceLive", 0, 4), ("talking_heads/DeepFaceLive", 1, 4),
                 ("talking_heads/AniTalker", 1, 4), ("talking_heads/SadTalker", 1, 4), ("talking_heads/MEAD", 0, 4)],
    "dfdc_train": [("dfdc", k % 2, 1) for k in range(8)],
}


def drawn_face(rng: np.random.Generator, fake: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A region with a drawn face in the cache's geometry: image, box, six keypoints, 468 outline points."""
    img = np.full((SIZE, SIZE, 3), rng.integers(40, 200, size=3), np.uint8)
    side = SIZE / (1 + MARGIN)
    x0 = y0 = (SIZE - side) / 2
    c = SIZE / 2 + rng.normal(0, 2, size=2)
    skin = (200, 150, 120) if not fake else (190, 160, 140)
    cv2.ellipse(img, (int(c[0]), int(c[1])), (int(side * 0.42), int(side * 0.55)), 0, 0, 360, skin, -1)
    kps = np.array([(0.29, 0.35), (0.71, 0.35), (0.5, 0.6), (0.5, 0.77), (0.05, 0.4), (0.95, 0.4)]) * side + x0
    for k in (0, 1):
        cv2.circle(img, (int(kps[k, 0]), int(kps[k, 1])), 6, (40, 30, 30), -1)
    cv2.ellipse(img, (int(kps[3, 0]), int(kps[3, 1])), (16, 6), 0, 0, 360, (150, 60, 60), -1)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    t = np.linspace(0, 2 * np.pi, 468, endpoint=False)
    mesh = np.stack([c[0] + side * 0.42 * np.cos(t), c[1] + side * 0.55 * np.sin(t)], 1)
    return img, np.array([x0, y0, side, side]), kps, mesh


def synthetic_sets(seed: int = 0) -> dict[str, CropSet]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, items in ITEMS.items():
        crops, boxes, kps, marks, owner, meta = [], [], [], [], [], []
        for k, (source, label, n) in enumerate(items):
            for _ in range(n):
                img, box, kp, mesh = drawn_face(rng, bool(label))
                crops.append(img), boxes.append(box), kps.append(kp), marks.append(mesh), owner.append(k)
            meta.append({"path": f"/somewhere/{name}/{k}.mp4", "label": label, "identities": [f"{name}{k}"],
                         "source": source, "n_crops": n})
        out[name] = CropSet(np.stack(crops), np.array(boxes, np.float32), np.array(kps, np.float32),
                            np.array(marks, np.float32), np.array(owner, np.int32), meta)
    return out


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "gpu_bundle"
    pack(BundleConfig(out_dir=str(out), codec_share=0.5), synthetic_sets())
    return out


def test_bundle_holds_every_set_with_its_geometry_moved_into_the_tighter_region(bundle_dir: Path) -> None:
    cfg = BundleConfig()
    b = load_bundle(bundle_dir)
    assert set(b.sets) == {"ffpp_train", "th_train", "dfdc_train", "ffpp_train_h264", "th_train_h264"}
    src = synthetic_sets()
    for name in ("ffpp_train", "th_train", "dfdc_train"):
        cs = b.sets[name]
        assert cs.crops.shape == (len(src[name].crops), cfg.region_size, cfg.region_size, 3)
        # The box is centred in the region and fills 1 / (1 + margin) of it.
        np.testing.assert_allclose(cs.boxes[:, 2], cfg.region_size / (1 + cfg.region_margin), atol=1.0)
        np.testing.assert_allclose(cs.boxes[:, 0] + cs.boxes[:, 2] / 2, cfg.region_size / 2, atol=1.0)
        # Landmarks kept for reals only (only reals are self-blended), in the new pixels.
        reals = np.array([cs.items[k]["label"] == 0 for k in cs.item])
        assert not np.isnan(cs.landmarks[reals]).any() and np.isnan(cs.landmarks[~reals]).all()
        scale = cfg.region_size / (src[name].boxes[0, 2] * (1 + cfg.region_margin))
        np.testing.assert_allclose(np.ptp(cs.landmarks[reals][0][:, 0]),
                                   np.ptp(src[name].landmarks[reals][0][:, 0]) * scale, rtol=0.02)
        assert all(not m["path"].startswith("/") for m in cs.items)
    # Half the clips went through the codec, whole and with their labels; the pixels changed, the geometry not.
    h = b.sets["ffpp_train_h264"]
    assert len(h.items) == 2 and all(m["codec"].startswith("h264 crf") for m in h.items)
    assert h.crops.shape[0] == sum(m["n_crops"] for m in h.items)
    meta = json.loads((bundle_dir / "bundle.json").read_text())
    assert meta["sets"]["ffpp_train_h264"]["faces"] == 8 and meta["data_config"]["seed"] == 0
    weights = torch.load(b.backbone, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    assert load_lite0_imagenet(create_model("lite0_lstm").backbone, b.backbone) == 245  # every tensor paired


def test_bundle_is_deterministic_and_refuses_a_changed_file(bundle_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    pack(BundleConfig(out_dir=str(again), codec_share=0.5), synthetic_sets())
    for name in ("ffpp_train.npz", "th_train_h264.npz", "dfdc_train.npz"):
        assert (again / name).read_bytes() == (bundle_dir / name).read_bytes()
    data = bytearray((again / "dfdc_train.npz").read_bytes())
    data[-10] ^= 0xFF
    (again / "dfdc_train.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        load_bundle(again)


def test_pools_leave_out_only_the_fakes_of_a_source() -> None:
    sets = synthetic_sets()
    pools = Pools(sets, {"th_train": 1.0}, EXCLUDED_FAKES["gpu_no_dfl"])
    rng, th = np.random.default_rng(0), sets["th_train"]
    fakes = {th.items[th.item[i]]["source"] for _, i in (pools.draw(rng, 1) for _ in range(200))}
    reals = {th.items[th.item[i]]["source"] for _, i in (pools.draw(rng, 0) for _ in range(200))}
    assert fakes == {"talking_heads/AniTalker", "talking_heads/SadTalker"}
    assert reals == {"talking_heads/DeepFaceLive", "talking_heads/MEAD"}  # the swapped streamer's real clip stays
    with pytest.raises(ValueError, match="no fake faces"):
        Pools({"ffpp_train": few_items(sets["ffpp_train"])}, {"ffpp_train": 1.0}, ("ffpp/FaceSwap",))


def test_plan_gives_the_main_run_its_share_and_the_rest_alike() -> None:
    p = plan(list(RUN_NAMES), 600.0)
    assert p["gpu_main"] == pytest.approx(270.0) and sum(p.values()) == pytest.approx(600.0)
    assert len({round(v, 6) for k, v in p.items() if k != "gpu_main"}) == 1
    assert plan(["gpu_no_dfl"], 100.0) == {"gpu_no_dfl": pytest.approx(100.0)}


def test_webcam_degradations_are_identity_at_zero_and_change_the_image_otherwise() -> None:
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    assert np.array_equal(apply_webcam(img, sample_webcam(rng, 0.0), rng), img)
    p = sample_webcam(np.random.default_rng(3), 1.0)
    assert p.gain < 1 and p.motion_px > 0 and p.sensor_scale < 1
    out = apply_webcam(img, p, rng)
    assert out.shape == img.shape and out.dtype == np.uint8 and np.abs(out.astype(int) - img).mean() > 5


def test_float16_checkpoints_are_half_the_size_and_load_in_float32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("resnext_compact_lstm")
    pre = PreprocessConfig()
    save_checkpoint(tmp_path / "a.pt", model, "resnext_compact_lstm", pre)
    save_checkpoint(tmp_path / "b.pt", model, "resnext_compact_lstm", pre, float16_weights=True)
    assert (tmp_path / "b.pt").stat().st_size < 0.6 * (tmp_path / "a.pt").stat().st_size
    half = load_checkpoint(tmp_path / "b.pt")
    for (k, v), w in zip(model.state_dict().items(), half.model.state_dict().values()):
        assert w.dtype == v.dtype, k  # BatchNorm statistics and counters keep their types
        torch.testing.assert_close(w, v, atol=2e-3, rtol=1e-3)


def test_importing_dfcore_loads_no_analysis_until_asked() -> None:
    code = ("import sys, dfcore; assert 'dfcore.analyze' not in sys.modules and 'mediapipe' not in sys.modules; "
            "from dfcore import analyze_video, load_detector, PreprocessConfig; import dfcore.media.video_io; "
            "assert 'mediapipe' in sys.modules and callable(analyze_video)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


def test_tiny_gpu_run_without_mediapipe_or_av_writes_loadable_uncalibrated_checkpoints(bundle_dir: Path,
                                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = ("import sys; sys.modules['mediapipe'] = None; sys.modules['av'] = None\n"
            "import torch; torch.set_num_threads(1)\n"
            "from dfcore.training.gpu.run import main\n"
            f"sys.exit(main(['--bundle', {str(bundle_dir)!r}, '--out', {str(out)!r}, '--minutes', '30', "
            "'--runs', 'gpu_main,gpu_no_faceswap', '--device', 'cpu', '--tiny']))")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(done.stdout)
    assert "dry run passed" in done.stdout
    assert {p.name for p in out.iterdir()} == {"SHA256SUMS", LOG_NAME, "gpu_main.pt", "gpu_no_faceswap.pt"}
    log = json.loads((out / LOG_NAME).read_text())
    for name in ("gpu_main", "gpu_no_faceswap"):
        ck = load_checkpoint(out / f"{name}.pt")  # sha256 checked against the manifest
        assert (ck.temperature, ck.bias, ck.frame_temperature, ck.threshold) == (1.0, 0.0, 1.0, 0.5)
        assert ck.model_name == "lite0_lstm" and ck.preprocess.input_size == 160
        assert next(ck.model.parameters()).dtype == torch.float32
        assert ck.info["frame_steps"] == 3 and ck.info["batch"] == 8 and ck.info["uncalibrated"]
        assert ck.info["bundle_sha256"] == load_bundle(bundle_dir).sha256 and "--tiny" in ck.info["command"]
        run = log["runs"][name]
        assert run["steps"] == 3 and run["sha256"] == ck.sha256 and run["loss_curve"]
    info = load_checkpoint(out / "gpu_no_faceswap.pt").info
    assert info["trained_on"]["excluded_fakes"] == ["ffpp/FaceSwap"]
    assert "ffpp_train_fake" in info["trained_on"]["faces_drawn_from"]
    assert info["run_config"]["exclude_methods"] == ["FaceSwap"]


def test_runs_that_do_not_fit_the_time_left_are_skipped_and_logged_never_half_saved(bundle_dir: Path,
                                                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = ("import sys, torch; torch.set_num_threads(1)\n"
            "from dfcore.training.gpu.run import main\n"
            f"sys.exit(main(['--bundle', {str(bundle_dir)!r}, '--out', {str(out)!r}, '--minutes', '0.01', "
            "'--runs', 'gpu_main,gpu_no_dfl', '--device', 'cpu', '--tiny']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "dry run passed" in done.stdout  # the dry run always runs: a crash shows before any budget is spent
    assert {p.name for p in out.iterdir()} == {LOG_NAME}
    log = json.loads((out / LOG_NAME).read_text())
    assert set(log["runs"]) == {"gpu_main", "gpu_no_dfl"} and all("skipped" in r for r in log["runs"].values())
