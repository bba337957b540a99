"""dfcore.training.train, its stages, its splits and dfcore.training.sources.face_cache without the real data:
tiny synthetic crop sets and a tiny model.

Nothing here reads the training data; the cached regions are smooth random images
(or regions extracted from the synthetic astronaut clips), and the model is a
randomly initialised, very narrow ResNeXt-LSTM registered under a test-only
factory name. These tests check plumbing -- shapes, pairing, determinism,
resuming, files -- and that the clip stage learns a trivially separable set.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dfcore.models.model
import dfcore.training.recipe as recipe
import dfcore.training.train as train_mod
from dfcore.training.augment import AugmentParams
from dfcore.synth.blend import apply_blend, sample_blend_params
from dfcore.models.checkpoint import load_checkpoint, sha256_file
from dfcore.training.sources.items import LabelledItem
from dfcore.training.sources.user_files import read_csv
from dfcore.training.sources.face_cache import CropSet, extract_crops
from dfcore.vision.face_mesh import N_LANDMARKS
from dfcore.models.model import ModelConfig, ResNeXtLSTM
from dfcore.vision.preprocessing import crop_face
from dfcore.synth.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP
from dfcore.training.recipe import DataConfig, RunConfig
import dfcore.training.sources.splits as splits_mod
import dfcore.training.stages.frames as frames_mod
import dfcore.training.stages.model_input as input_mod
from dfcore.training.sources.splits import TrainingData, is_left_out, load_or_extract, write_split_csvs
from dfcore.training.stages.clips import ClipFeatures, sequence_positions, train_clips
from dfcore.training.stages.frames import FacePools, FrameBatches, selected_step, train_frames
from dfcore.training.stages.model_input import model_face, run_preprocess
from dfcore.training.stages.schedule import lr_at
from dfcore.training.train import TrainConfig, checkpoint_path, train_run

CACHE = 64  # side of the synthetic cached regions
MARGIN = 0.9  # their context around the face box, as DataConfig.cache_margin
TINY_NAME = "tiny_test_lstm"  # a test-only factory name, registered by the tiny_factory fixture
TINY = ModelConfig(stem_width=8, stage_planes=(4, 8, 8, 8), stage_blocks=(1, 1, 1, 1), cardinality=4, lstm_hidden=8)
RUN = RunConfig(name="tiny", model_name=TINY_NAME, input_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                frame_steps=3, lr=1e-3, warmup=1, batch=8, eval_every=2, clip_variants=1, clip_steps=3, clip_batch=4,
                dfdc_clip_faces=4, threads=1)
PRE = run_preprocess(RUN)
IDENTITY = AugmentParams(flip=False, jpeg_quality=None, blur_sigma=0.0, down_scale=1.0, brightness=0.0,
                         contrast=1.0, saturation=1.0, noise_sigma=0.0)


def _smooth_images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)
    return np.stack([cv2.resize(s, (CACHE, CACHE), interpolation=cv2.INTER_CUBIC) for s in small])


def _face_geometry(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Box, keypoints and a mesh as a margin-0.9 region places them: a centred box of side S / 1.9,
    468 "landmarks" on and inside an ellipse slightly smaller than the box."""
    side = CACHE / (1 + MARGIN)
    x0 = (CACHE - side) / 2
    boxes = np.tile(np.array([x0, x0, side, side], np.float32), (n, 1))
    rel = np.array([(0.29, 0.35), (0.71, 0.35), (0.5, 0.6), (0.5, 0.77), (0.05, 0.4), (0.95, 0.4)], np.float32)
    kps = np.tile((x0 + rel * side)[None], (n, 1, 1)).astype(np.float32)
    t = np.linspace(0, 2 * np.pi, N_LANDMARKS, endpoint=False)
    r = np.where(np.arange(N_LANDMARKS) % 2 == 0, 1.0, 0.5)  # the outline and an inner ring
    mesh = np.stack([CACHE / 2 + 0.4 * side * r * np.cos(t), CACHE / 2 + 0.45 * side * r * np.sin(t)], 1)
    return boxes, kps, np.tile(mesh[None], (n, 1, 1)).astype(np.float32)


def _cropset(crops_per_item: list[int], labels: list[int], seed: int, sources: list[str] | None = None,
             no_mesh: tuple[int, ...] = ()) -> CropSet:
    n = sum(crops_per_item)
    boxes, kps, marks = _face_geometry(n)
    marks[list(no_mesh)] = np.nan  # as extract_crops stores a frame where the mesh found no face
    owner = np.repeat(np.arange(len(crops_per_item)), crops_per_item).astype(np.int32)
    sources = sources or ["test"] * len(labels)
    items = [{"path": f"/nowhere/{seed}_{i:03d}.mp4", "label": lab, "identities": [f"{i:03d}"], "source": src,
              "n_crops": c} for i, (c, lab, src) in enumerate(zip(crops_per_item, labels, sources))]
    return CropSet(_smooth_images(n, seed), boxes, kps, marks, owner, items)


def _ffpp(seed: int = 1) -> CropSet:
    # Two real clips, a Deepfakes and a FaceSwap clip of 4-5 faces, and a real clip where no face was found.
    return _cropset([4, 5, 4, 5, 0], [0, 0, 1, 1, 0], seed,
                    ["ffpp/original", "ffpp/original", "ffpp/Deepfakes", "ffpp/FaceSwap", "ffpp/original"],
                    no_mesh=(1,))


def _dfdc(seed: int = 2) -> CropSet:
    return _cropset([1] * 8, [0, 1] * 4, seed, ["dfdc"] * 8)


@pytest.fixture(scope="module")
def ffpp_set() -> CropSet:
    return _ffpp()


@pytest.fixture(scope="module")
def dfdc_set() -> CropSet:
    return _dfdc()


SHARES = {"ffpp": 0.35, "dfdc": 0.65}


@pytest.fixture(scope="module")
def pools(ffpp_set: CropSet, dfdc_set: CropSet) -> FacePools:
    return FacePools({"ffpp": ffpp_set, "dfdc": dfdc_set}, SHARES)


@pytest.fixture
def tiny_factory(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the tiny architecture under a factory name, as train_run builds models by name."""
    monkeypatch.setitem(dfcore.models.model.MODEL_CONFIGS, TINY_NAME, TINY)
    return TINY_NAME


def _tiny_model(dropout: float | None = None) -> ResNeXtLSTM:
    torch.manual_seed(0)
    cfg = TINY if dropout is None else dataclasses.replace(TINY, dropout=dropout)
    return ResNeXtLSTM(cfg)


def _data(ffpp: CropSet, dfdc: CropSet) -> TrainingData:
    """Training data with the synthetic sets; the calibration splits are copies with other pixels."""
    crops = {"ffpp_train": ffpp, "dfdc_train": dfdc, "ffpp_calib": _ffpp(seed=11), "dfdc_calib": _dfdc(seed=12)}
    splits = {name: [] for name in ("ffpp_train", "ffpp_calib", "ffpp_test", "dfdc_train", "dfdc_calib", "dfdc_test")}
    return TrainingData(splits, crops, 12.5)


# --------------------------------------------------------------------------- faces for the model


def test_model_face_is_crop_face_of_the_region(ffpp_set: CropSet) -> None:
    rng = np.random.default_rng(0)
    for i in (0, 6):
        got = model_face(ffpp_set, i, PRE, rng, 1.0, augment=IDENTITY)
        expected = crop_face(ffpp_set.crops[i], ffpp_set.face_box(i), PRE)
        np.testing.assert_array_equal(got, expected)
        assert got.shape == (PRE.input_size, PRE.input_size, 3) and got.dtype == np.uint8
    # The model's crop (margin 0.3) is cut from inside the generous region (margin 0.9): it is
    # not the whole region shrunk.
    whole = cv2.resize(ffpp_set.crops[0], (PRE.input_size,) * 2, interpolation=cv2.INTER_AREA)
    assert not np.array_equal(model_face(ffpp_set, 0, PRE, rng, 1.0, augment=IDENTITY), whole)


def test_model_face_blends_the_region_before_cropping(ffpp_set: CropSet) -> None:
    params = dataclasses.replace(sample_blend_params(np.random.default_rng(3), input_mod.train_blend(RUN)),
                                 mask_shape="keypoints", blend_ratio=1.0)
    i = 0
    got = model_face(ffpp_set, i, PRE, np.random.default_rng(0), 1.0, params, IDENTITY)
    blended, _ = apply_blend(ffpp_set.crops[i], ffpp_set.face_box(i), ffpp_set.keypoints[i].tolist(), params,
                             landmarks=ffpp_set.mesh(i))
    np.testing.assert_array_equal(got, crop_face(blended, ffpp_set.face_box(i), PRE))
    assert not np.array_equal(got, model_face(ffpp_set, i, PRE, np.random.default_rng(0), 1.0, augment=IDENTITY))
    # The mesh outline is used where there is one: without it (keypoint hull) the blend differs.
    no_mesh, _ = apply_blend(ffpp_set.crops[i], ffpp_set.face_box(i), ffpp_set.keypoints[i].tolist(), params)
    assert not np.array_equal(blended, no_mesh)


def test_cropset_mesh_and_face_box(ffpp_set: CropSet) -> None:
    assert ffpp_set.mesh(1) is None  # stored as NaN: the mesh found no face there
    assert ffpp_set.mesh(0).shape == (N_LANDMARKS, 2)
    box = ffpp_set.face_box(0)
    assert all(isinstance(v, int) for v in box)
    assert box == tuple(int(round(v)) for v in ffpp_set.boxes[0])


# --------------------------------------------------------------------------- FacePools and FrameBatches


def test_face_pools(pools: FacePools, ffpp_set: CropSet, dfdc_set: CropSet) -> None:
    ff_item = ffpp_set.item
    assert set(ff_item[pools.faces[("ffpp", 0)]]) == {0, 1}  # the item without crops is in no pool
    assert set(ff_item[pools.faces[("ffpp", 1)]]) == {2, 3}
    assert len(pools.faces[("ffpp", 0)]) == 9 and len(pools.faces[("ffpp", 1)]) == 9
    assert [len(pools.faces[("dfdc", lab)]) for lab in (0, 1)] == [4, 4]
    rng = np.random.default_rng(0)
    for label in (0, 1):
        for share, key in ((1.0, "ffpp"), (0.0, "dfdc")):
            only = FacePools({"ffpp": ffpp_set, "dfdc": dfdc_set}, {"ffpp": share, "dfdc": 1.0 - share})
            cs, i = only.draw(rng, label)
            assert cs is only.sets[key] and cs.items[cs.item[i]]["label"] == label
    # The shares are followed: about 35% of draws from FF++.
    drawn = [pools.draw(rng, 0)[0] is ffpp_set for _ in range(2000)]
    assert abs(np.mean(drawn) - 0.35) < 0.04


def test_face_pools_real_only(ffpp_set: CropSet) -> None:
    reals = CropSet(ffpp_set.crops, ffpp_set.boxes, ffpp_set.keypoints, ffpp_set.landmarks, ffpp_set.item,
                    [{**m, "label": 0} for m in ffpp_set.items])
    with pytest.raises(ValueError, match="no fake faces in the mine"):
        FacePools({"mine": reals}, {"mine": 1.0})
    pools = FacePools({"mine": reals}, {"mine": 1.0}, need_fakes=False)  # SBI only: every fake is a self-blend
    run = dataclasses.replace(RUN, sbi_fraction=1.0)
    crops, y = FrameBatches(pools, run, PRE).make(0)
    assert y.tolist() == [0.0] * (run.batch // 2) + [1.0] * (run.batch - run.batch // 2)


def test_face_pools_leave_out_a_method(ffpp_set: CropSet, dfdc_set: CropSet) -> None:
    pools = FacePools({"ffpp": ffpp_set, "dfdc": dfdc_set}, SHARES, exclude_methods=("FaceSwap",))
    assert set(ffpp_set.item[pools.faces[("ffpp", 1)]]) == {2}  # Deepfakes only
    assert set(ffpp_set.item[pools.faces[("ffpp", 0)]]) == {0, 1}  # reals untouched
    # Leaving out every fake method leaves no FF++ fakes: refused, not silently trained without them.
    with pytest.raises(ValueError, match="no fake faces in the ffpp"):
        FacePools({"ffpp": ffpp_set, "dfdc": dfdc_set}, SHARES, exclude_methods=("FaceSwap", "Deepfakes"))


def test_face_pools_leave_out_a_talking_head_source_but_keep_its_reals(ffpp_set: CropSet) -> None:
    # A DeepFaceLive swap and its original share the source name: the swap goes, the webcam original stays.
    th = _cropset([3, 3, 3, 3], [0, 1, 1, 0], 21, ["talking_heads/DeepFaceLive", "talking_heads/DeepFaceLive",
                                                   "talking_heads/AniTalker", "talking_heads/MEAD"])
    pools = FacePools({"ffpp": ffpp_set, "th": th}, {"ffpp": 0.5, "th": 0.5},
                      exclude_methods=("talking_heads/DeepFaceLive",))
    assert set(th.item[pools.faces[("th", 1)]]) == {2}  # AniTalker only
    assert set(th.item[pools.faces[("th", 0)]]) == {0, 3}  # DeepFaceLive's original kept
    assert set(ffpp_set.item[pools.faces[("ffpp", 1)]]) == {2, 3}, "FF++ untouched"
    assert is_left_out({"label": 1, "source": "ffpp/FaceSwap"}, ("FaceSwap",))
    assert not is_left_out({"label": 0, "source": "talking_heads/DeepFaceLive"}, ("talking_heads/DeepFaceLive",))


def test_frame_batch_shapes_and_labels(pools: FacePools) -> None:
    crops, y = FrameBatches(pools, RUN, PRE).make(0)
    assert crops.shape == (RUN.batch, PRE.input_size, PRE.input_size, 3) and crops.dtype == np.uint8
    n_real = RUN.batch // 2
    n_sbi = round((RUN.batch - n_real) * RUN.sbi_fraction)
    assert y.dtype == torch.float32
    assert y.tolist() == [0.0] * n_real + [1.0] * (RUN.batch - n_real)
    assert n_sbi == 2  # half the fakes are self-blends


def test_frame_batch_pairs_each_self_blend_with_its_real(pools: FacePools, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_model_face = frames_mod.model_face

    def recording(cs, i, pre, rng, strength, blend=None, augment=None, webcam=None, codec=None):
        calls.append((id(cs), i, blend is not None, cs.items[cs.item[i]]["label"]))
        return real_model_face(cs, i, pre, rng, strength, blend, augment, webcam, codec)

    monkeypatch.setattr(frames_mod, "model_face", recording)
    run = dataclasses.replace(RUN, batch=16)
    _, y = FrameBatches(pools, run, PRE).make(5)
    n_real, n_sbi = 8, 4
    reals, sbis, fakes = calls[:n_real], calls[n_real:n_real + n_sbi], calls[n_real + n_sbi:]
    assert len(calls) == len(y) == 16
    assert all(not b and lab == 0 for _, _, b, lab in reals)
    # The self-blends are the first reals' own faces, blended.
    assert [(c, i) for c, i, _, _ in sbis] == [(c, i) for c, i, _, _ in reals[:n_sbi]]
    assert all(b for _, _, b, _ in sbis)
    # The rest are real fakes, unblended.
    assert all(not b and lab == 1 for _, _, b, lab in fakes)
    # No self-blends at all when sbi_fraction is 0.
    calls.clear()
    FrameBatches(pools, dataclasses.replace(RUN, sbi_fraction=0.0), PRE).make(5)
    assert not any(b for _, _, b, _ in calls)


def test_frame_batches_deterministic_per_step(pools: FacePools, ffpp_set: CropSet, dfdc_set: CropSet) -> None:
    batches = FrameBatches(pools, RUN, PRE)
    a, ya = batches.make(3)
    b, yb = batches.make(3)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(ya, yb)
    # A fresh FrameBatches over fresh pools reproduces the step (a resumed run sees the same batches).
    c, _ = FrameBatches(FacePools({"ffpp": ffpp_set, "dfdc": dfdc_set}, SHARES), RUN, PRE).make(3)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, batches.make(4)[0])
    assert not np.array_equal(a, FrameBatches(pools, dataclasses.replace(RUN, seed=1), PRE).make(3)[0])


def test_camera_degradations_change_the_faces_and_nothing_else_drawn(pools: FacePools,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    blends = []
    real_sample = frames_mod.sample_blend_params

    def recording(rng, options=None):
        blends.append(real_sample(rng, options))
        return blends[-1]

    monkeypatch.setattr(frames_mod, "sample_blend_params", recording)
    plain, y0 = FrameBatches(pools, RUN, PRE).make(3)
    plain_blends = list(blends)
    blends.clear()
    filmed, y1 = FrameBatches(pools, dataclasses.replace(RUN, webcam_prob=1.0), PRE).make(3)
    assert torch.equal(y0, y1) and blends == plain_blends  # the same faces and blends were drawn
    assert all(not np.array_equal(a, b) for a, b in zip(plain, filmed))  # each face went through a camera
    assert input_mod.camera(np.random.default_rng(0), RUN) is None  # off by default: nothing drawn
    # Targeted blends reach the blend options; the default is the whole face, as before.
    assert input_mod.train_blend(RUN).region_probs == (1.0, 0.0, 0.0, 0.0)
    targeted = dataclasses.replace(RUN, blend_regions=(0.4, 0.3, 0.15, 0.15), neural_look_prob=0.5)
    assert input_mod.train_blend(targeted).region_probs == (0.4, 0.3, 0.15, 0.15)
    assert input_mod.train_blend(targeted).neural_look_prob == 0.5


def test_codec_passes_change_the_faces_and_nothing_else_drawn(pools: FacePools,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    passes = []
    real_apply = input_mod.apply_codec

    def recording(img, p):
        passes.append(p)
        return real_apply(img, p)

    monkeypatch.setattr(input_mod, "apply_codec", recording)
    plain, y0 = FrameBatches(pools, RUN, PRE).make(3)
    assert passes == [], "off by default: no face goes through the codec"
    uploaded, y1 = FrameBatches(pools, dataclasses.replace(RUN, codec_prob=1.0), PRE).make(3)
    assert torch.equal(y0, y1) and len(passes) == len(plain)  # the same faces, each through one pass
    assert all(not np.array_equal(a, b) for a, b in zip(plain, uploaded))
    passes.clear()
    some, _ = FrameBatches(pools, dataclasses.replace(RUN, codec_prob=0.5), PRE).make(3)
    # Each face is the plain one or the uploaded one: the codec's draws never move the batch's other draws.
    same = [np.array_equal(a, b) for a, b in zip(plain, some)]
    assert len(passes) == same.count(False) and 0 < len(passes) < len(plain)
    assert input_mod.codec_pass(np.random.default_rng(0), RUN) is None


# --------------------------------------------------------------------------- schedules and sequences


def test_lr_schedule() -> None:
    peak, warmup, total = 1e-3, 10, 110
    assert lr_at(0, peak, warmup, total) == pytest.approx(1e-4)
    assert lr_at(9, peak, warmup, total) == pytest.approx(1e-3)
    assert lr_at(10, peak, warmup, total) == pytest.approx(1e-3)
    assert lr_at(60, peak, warmup, total) == pytest.approx(0.5e-3)  # half-way through the cosine
    assert lr_at(110, peak, warmup, total) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(200, peak, warmup, total) == pytest.approx(0.0, abs=1e-12)  # never below 0 past the end
    decay = [lr_at(s, peak, warmup, total) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(35, peak, warmup, total) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    # Warm-up longer than the run (train_clips' fixed 50 steps with a short run): still finite, rising.
    assert [lr_at(s, 1.0, 50, 3) for s in range(3)] == pytest.approx([0.02, 0.04, 0.06])


@pytest.mark.parametrize("n_cached,length", [(32, 10), (32, 32), (32, 100), (1, 5), (5, 1)])
def test_sequence_positions(n_cached: int, length: int) -> None:
    for seed in range(5):
        pos = sequence_positions(n_cached, length, np.random.default_rng(seed))
        assert pos.shape == (length,) and pos.dtype.kind == "i"
        assert pos.min() >= 0 and pos.max() < n_cached
        assert (np.diff(pos) >= 0).all()  # in time order
        if length <= n_cached:
            assert len(set(pos.tolist())) == length  # no frame twice
            # Spread evenly: consecutive positions n_cached / length apart (to rounding).
            assert np.all(np.abs(np.diff(pos) - n_cached / length) <= 1)
        else:
            assert set(pos.tolist()) == set(range(n_cached))  # every cached frame, some repeated


def test_sequence_positions_phase_is_random() -> None:
    draws = {tuple(sequence_positions(32, 10, np.random.default_rng(s))) for s in range(10)}
    assert len(draws) > 1


# --------------------------------------------------------------------------- clip stage


def _toy_features(n: int, feat: int, seed: int) -> ClipFeatures:
    """Separable sequences: feature 0 is +2 in fakes, -2 in reals; everything else is noise.
    Half are 32-frame clips, half 1-frame faces, as clip_features gives."""
    g = torch.Generator().manual_seed(seed)
    feats, labels = [], []
    for k in range(n):
        label = k % 2
        t = 32 if k < n // 2 else 1
        f = torch.randn(t, feat, generator=g)
        f[:, 0] += 2.0 if label else -2.0
        feats.append(f)
        labels.append(label)
    return ClipFeatures(feats, labels, [None] * n)


def _clip_loss(model: ResNeXtLSTM, feats: ClipFeatures) -> float:
    model.eval()
    with torch.no_grad():
        losses = [F.binary_cross_entropy_with_logits(model.heads(f.unsqueeze(0))[0], torch.tensor([float(y)]))
                  for f, y in zip(feats.feats, feats.labels)]
    return float(torch.stack(losses).mean())


def test_train_clips_learns_a_separable_set() -> None:
    model = _tiny_model(dropout=0.0)
    feats = _toy_features(24, model.backbone.out_features, seed=0)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith(("lstm.", "clip_head."))}
    before = _clip_loss(model, feats)
    run = dataclasses.replace(RUN, clip_lr=1e-2, clip_batch=8)
    seconds = train_clips(model, run, feats, steps=80)
    after = _clip_loss(model, feats)
    assert seconds >= 0
    assert before > 0.5 and after < 0.5 * before, (before, after)
    # Only the LSTM and the clip head learn in the clip stage: the CNN and the frame head are frozen.
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n


def test_train_clips_is_deterministic_and_uses_the_teachers_logits() -> None:
    plain = _toy_features(8, _tiny_model().backbone.out_features, seed=1)
    taught = ClipFeatures(plain.feats, plain.labels, [-3.0 if y else 3.0 for y in plain.labels])

    def trained(feats: ClipFeatures) -> dict[str, torch.Tensor]:
        model = _tiny_model()
        train_clips(model, RUN, feats, steps=4)
        return model.state_dict()

    a, b, c = trained(taught), trained(taught), trained(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded per step: a rerun is the same run
    # Soft targets that disagree with the labels change what is learnt.
    assert not all(torch.equal(a[k], c[k]) for k in a if k.startswith(("lstm.", "clip_head.")))


def test_selected_step_is_the_best_mean_frame_auc() -> None:
    history = [{"step": 1, "a_frame_auc": 0.6, "b_frame_auc": 0.9},
               {"step": 2, "a_frame_auc": 0.9, "b_frame_auc": 0.8},  # mean 0.85: the best
               {"step": 3, "a_frame_auc": 0.95, "b_frame_auc": 0.7},
               {"step": 4, "a_frame_auc": 0.8, "b_frame_auc": 0.9}]  # ties with step 2: the earlier wins
    assert selected_step(history) == 2
    assert selected_step([]) is None and selected_step([{"step": 5}]) is None  # nothing scored (one-class sets)


def test_the_leave_one_out_run_never_selects_on_its_calibration_split() -> None:
    # That split holds the left-out method's fakes: selecting a step on it would let the method in.
    teachers = recipe.FFPP_LEAVE_OUTS
    assert recipe.LEAVE_ONE_OUT in teachers
    for name, method in teachers.items():
        loo = recipe.RECIPE[name]
        assert loo.exclude_methods == (method,) and not loo.select_best
    assert all(r.select_best for name, r in recipe.RECIPE.items() if name not in teachers)


def test_each_ffpp_stage_leave_out_starts_from_a_teacher_that_never_saw_the_method_either() -> None:
    stages = recipe.FFPP_STAGE_LEAVE_OUTS
    assert sorted(m for t, m in recipe.FFPP_LEAVE_OUTS.items()) == ["Deepfakes", "Face2Face", "FaceSwap"]
    assert len(stages) == 3
    stage_recipe = recipe.RECIPE["lite0_lstm_th"]
    for name, teacher in stages.items():
        run = recipe.RECIPE[name]
        assert run.exclude_methods == recipe.RECIPE[teacher].exclude_methods
        assert run.init_from == f"loo/{teacher}"  # the teacher's checkpoint goes to weights/loo/
        # Otherwise the default model's own stage: the leave-out measures that recipe.
        assert dataclasses.replace(run, name=stage_recipe.name, init_from=stage_recipe.init_from,
                                   exclude_methods=()) == stage_recipe


def test_monitor_degraded_scores_the_same_faces_degraded_the_same_way(ffpp_set: CropSet, dfdc_set: CropSet,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_model().eval()
    sets = {"ffpp": ffpp_set, "dfdc": dfdc_set}
    seen: list[np.ndarray] = []
    real_as_input = frames_mod.as_input

    def recording_as_input(crops: np.ndarray, pre: object) -> torch.Tensor:
        seen.append(crops.copy())
        return real_as_input(crops, pre)

    monkeypatch.setattr(frames_mod, "as_input", recording_as_input)
    clean = frames_mod.monitor(model, PRE, sets)
    n = len(seen)
    degraded = frames_mod.monitor(model, PRE, sets, degrade=1.0)
    again = frames_mod.monitor(model, PRE, sets, degrade=1.0)
    assert set(clean) == set(degraded) == {"ffpp_frame_auc", "dfdc_frame_auc"}
    assert degraded == again  # one fixed draw of degradations: every model meets the same faces
    assert all(np.array_equal(a, b) for a, b in zip(seen[n:2 * n], seen[2 * n:]))
    assert not all(np.array_equal(a, b) for a, b in zip(seen[:n], seen[n:2 * n]))  # and they are degraded


def test_ablation_variants_each_change_the_recipe() -> None:
    # A variant that names no RunConfig field, or leaves the recipe as it is, would measure nothing.
    from dfcore.training.ablation import VARIANTS

    base = recipe.RECIPE["lite0_lstm"]
    for name, overrides in VARIANTS.items():
        fields = {k: v for k, v in overrides.items() if k != "ffpp_cache_size"}
        variant = dataclasses.replace(base, **fields)
        assert (variant != base) == (name != "recipe"), name


def test_unseen_method_sets_hold_the_left_out_fakes_and_only_calibration_reals() -> None:
    # Train: the _ffpp clips (a FaceSwap clip among them); calibration: another draw of them, by other paths.
    from dfcore.training.ablation import unseen_method_sets

    train, calib = _ffpp(seed=1), _ffpp(seed=5)
    sets = unseen_method_sets(train, calib, ("FaceSwap",))
    unseen = sets["unseen"]
    # The FaceSwap clips of both splits (5 faces each) against the calibration reals (4 + 5 + 0 faces).
    assert [(it["path"], it["source"]) for it in unseen.items] == [
        (train.items[3]["path"], "ffpp/FaceSwap"),
        *[(calib.items[k]["path"], calib.items[k]["source"]) for k in (0, 1, 3, 4)]]
    assert len(unseen.crops) == len(unseen.boxes) == len(unseen.landmarks) == len(unseen.item) == 5 + 4 + 5 + 5
    for i in range(len(unseen.crops)):  # every face is the one its item names, with its own geometry
        item = unseen.items[unseen.item[i]]
        source, rows = (train, np.flatnonzero(train.item == 3)) if item["path"] == train.items[3]["path"] else \
            (calib, np.flatnonzero(calib.item == [it["path"] for it in calib.items].index(item["path"])))
        assert any(np.array_equal(unseen.crops[i], source.crops[r]) for r in rows)
    assert np.isnan(unseen.landmarks[unseen.item == 1][1, 0, 0])  # the calibration face without a mesh kept its NaN
    # The calibration split without FaceSwap: its Deepfakes clip and its reals.
    seen = sets["ffpp_calib_seen"]
    assert [it["source"] for it in seen.items] == ["ffpp/original", "ffpp/original", "ffpp/Deepfakes", "ffpp/original"]
    assert len(seen.crops) == 4 + 5 + 4
    # A calibration split without the left-out method is its own "seen" set: none is added.
    no_faceswap = _cropset([4, 4], [0, 1], 6, ["ffpp/original", "ffpp/Deepfakes"])
    assert set(unseen_method_sets(train, no_faceswap, ("FaceSwap",))) == {"unseen"}


@pytest.mark.parametrize("select_best", [True, False])
def test_train_frames_keeps_the_best_monitored_step(tmp_path: Path, pools: FacePools, select_best: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = iter([0.6, 0.9, 0.7, 0.8])  # the calibration AUC after steps 1-4: step 2 is the best
    monkeypatch.setattr(frames_mod, "monitor", lambda *a, **k: {"calib_frame_auc": next(scripted)})
    run = dataclasses.replace(RUN, frame_steps=4, eval_every=1, select_best=select_best)
    model = _tiny_model()
    history, _ = train_frames(model, run, pools, {}, tmp_path, 4, None)
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    last = torch.load(tmp_path / "frames.pt", weights_only=True)
    assert last["step"] == 4
    state = model.state_dict()
    if select_best:
        best = torch.load(tmp_path / "frames_best.pt", weights_only=True)
        assert best["step"] == 2
        assert all(torch.equal(state[k], best["model"][k]) for k in state)
        assert not all(torch.equal(state[k], last["model"][k]) for k in state)  # the last weights were set aside
    else:
        assert not (tmp_path / "frames_best.pt").exists()
        assert all(torch.equal(state[k], last["model"][k]) for k in state)


def test_train_frames_leaves_frozen_stages_as_they_were(tmp_path: Path, pools: FacePools,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Frozen stages keep their weights and their BatchNorm statistics (train mode would update those without any
    # gradient); the stages after them still learn.
    monkeypatch.setattr(frames_mod, "monitor", lambda *a, **k: {"calib_frame_auc": 0.5})
    run = dataclasses.replace(RUN, frame_steps=2, eval_every=2, frozen_stages=("stem", "layer1"))
    model = _tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_frames(model, run, pools, {}, tmp_path, 2, None)
    after = model.state_dict()
    frozen = [k for k in before if k.startswith(("backbone.stem.", "backbone.layer1."))]
    assert any("running_mean" in k for k in frozen)
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("backbone.layer2."))


@pytest.mark.parametrize("stages", [("layer1",), ("stem", "layer2"), ("stem", "head")])
def test_frozen_stages_must_be_the_first_ones(stages: tuple[str, ...]) -> None:
    # Freezing a stage after a trained one saves no backward pass, and a misspelt stage would freeze nothing.
    with pytest.raises(ValueError, match="first stages"):
        frames_mod.frozen_modules(_tiny_model(), stages)


def test_train_frames_with_an_average_monitors_keeps_and_resumes_it(tmp_path: Path, pools: FacePools,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # With ema_decay the average is what is monitored and kept, and a resumed run goes on averaging from the
    # saved average, not from a fresh copy of the resumed weights.
    monitored: list[dict] = []

    def recording_monitor(model: ResNeXtLSTM, *args: object, **kwargs: object) -> dict:
        monitored.append({name: v.clone() for name, v in model.state_dict().items()})
        return {"calib_frame_auc": 0.5}

    monkeypatch.setattr(frames_mod, "monitor", recording_monitor)
    run = dataclasses.replace(RUN, frame_steps=3, eval_every=1, ema_decay=0.5)
    model = _tiny_model()
    train_frames(model, run, pools, {}, tmp_path, 2, None)
    saved = torch.load(tmp_path / "frames.pt", weights_only=True)
    assert all(torch.equal(v, saved["ema"][k]) for k, v in model.state_dict().items())  # the average is kept
    assert all(torch.equal(v, saved["ema"][k]) for k, v in monitored[-1].items())  # and was monitored
    floats = [k for k, v in saved["model"].items() if v.dtype.is_floating_point
              and not torch.equal(v, saved["ema"][k])]
    assert floats  # the raw weights differ from their average

    resumed = _tiny_model()
    train_frames(resumed, run, pools, {}, tmp_path, 3, None)
    raw = torch.load(tmp_path / "frames.pt", weights_only=True)["model"]
    kept = resumed.state_dict()
    assert all(torch.allclose(kept[k], 0.5 * (saved["ema"][k] + raw[k])) for k in floats)


def test_train_frames_refuses_to_resume_without_the_average_it_asks_for(tmp_path: Path, pools: FacePools,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Starting an average from the resumed weights would silently be another run than the one configured.
    monkeypatch.setattr(frames_mod, "monitor", lambda *a, **k: {"calib_frame_auc": 0.5})
    run = dataclasses.replace(RUN, frame_steps=2, eval_every=1)
    train_frames(_tiny_model(), run, pools, {}, tmp_path, 1, None)
    with pytest.raises(ValueError, match="frames.pt: saved without a weight average"):
        train_frames(_tiny_model(), dataclasses.replace(run, ema_decay=0.9), pools, {}, tmp_path, 2, None)


def test_train_frames_ignores_a_best_file_its_history_lost(tmp_path: Path, pools: FacePools,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A run stopped after saving a best step but before saving the state that records it: on resume the
    # history does not know that step, so the file is not trusted and the last weights are kept.
    monkeypatch.setattr(frames_mod, "monitor", lambda *a, **k: {"calib_frame_auc": 0.5})
    run = dataclasses.replace(RUN, frame_steps=2, eval_every=1, select_best=True)
    model = _tiny_model()
    train_frames(model, run, pools, {}, tmp_path, 2, None)
    torch.save({"step": 7, "model": _tiny_model().state_dict()}, tmp_path / "frames_best.pt")
    resumed = _tiny_model()
    train_frames(resumed, run, pools, {}, tmp_path, 2, None)
    last = torch.load(tmp_path / "frames.pt", weights_only=True)["model"]
    assert all(torch.equal(v, last[k]) for k, v in resumed.state_dict().items())


# --------------------------------------------------------------------------- whole runs


def test_train_run_end_to_end_and_resume(tmp_path: Path, ffpp_set: CropSet, dfdc_set: CropSet,
                                         tiny_factory: str, capsys: pytest.CaptureFixture) -> None:
    cfg = TrainConfig(weights_dir=str(tmp_path / "weights"), work_dir=str(tmp_path / "runs"))
    data = _data(ffpp_set, dfdc_set)
    out = train_run(RUN, data, cfg)
    assert out == tmp_path / "weights" / "tiny.pt" == checkpoint_path(RUN, cfg)
    ck = load_checkpoint(out)  # listed in SHA256SUMS: the manifest was written too
    assert ck.model_name == tiny_factory and ck.preprocess == PRE
    assert (ck.threshold, ck.temperature, ck.bias, ck.frame_temperature) == (0.5, 1.0, 0.0, 1.0)  # uncalibrated
    info = ck.info
    assert [h["step"] for h in info["monitoring_history"]] == [2, 3]  # every eval_every steps and at the end
    assert set(info["monitoring_history"][0]) == {"step", "ffpp_calib_frame_auc", "dfdc_calib_frame_auc"}
    assert info["run_config"]["name"] == "tiny" and info["run_config"]["mean"] == [0.5, 0.5, 0.5]
    assert info["data_config"] == train_mod.jsonable(DataConfig())
    assert info["crop_extraction_s"] == 12.5 and info["teacher"] is None
    assert info["training_s"] == pytest.approx(info["frame_stage_s"] + info["clip_stage_s"], abs=0.2)
    assert info["trained_on"]["excluded_methods"] == [] and info["trained_on"]["pretrained"] is None
    assert info["trained_on"]["synthesised"].endswith("the region blended: the whole face 100%")
    work = tmp_path / "runs" / "tiny"
    assert (work / "frames.pt").is_file() and (work / "clips.pt").is_file()
    assert "wrote" in capsys.readouterr().out
    # Run again: both stages resume from their saved state and nothing is trained twice.
    again = train_run(RUN, data, cfg)
    ck2 = load_checkpoint(again)
    state, state2 = ck.model.state_dict(), ck2.model.state_dict()
    assert all(torch.equal(state[k], state2[k]) for k in state)
    assert ck2.info["monitoring_history"] == info["monitoring_history"]


def test_train_run_leave_one_out_and_distilled_student(tmp_path: Path, ffpp_set: CropSet, dfdc_set: CropSet,
                                                       tiny_factory: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig(weights_dir=str(tmp_path / "weights"), work_dir=str(tmp_path / "runs"))
    data = _data(ffpp_set, dfdc_set)
    loo = dataclasses.replace(RUN, name="tiny_loo", exclude_methods=("FaceSwap",), frame_steps=2, clip_steps=2)
    teacher = train_run(loo, data, cfg)
    assert teacher == tmp_path / "weights" / "loo" / "tiny_loo.pt"  # kept out of the model list
    assert load_checkpoint(teacher).info["trained_on"]["excluded_methods"] == ["FaceSwap"]
    # The step kept was chosen without the fake left out: the calibration split's FaceSwap clip is not watched.
    seen: dict[str, list[str]] = {}
    real_train_frames = train_mod.train_frames

    def spy(model, run, pools, monitor_sets, *rest):
        seen.update({k: [it["source"] for it in cs.items] for k, cs in monitor_sets.items()})
        return real_train_frames(model, run, pools, monitor_sets, *rest)

    monkeypatch.setattr(train_mod, "train_frames", spy)
    train_run(dataclasses.replace(loo, name="tiny_loo_again"), data, cfg)
    assert "ffpp/FaceSwap" not in seen["ffpp_calib"] and "ffpp/Deepfakes" in seen["ffpp_calib"]
    # A student at another input size distils from it (teacher-sized crops brought to its size);
    # the teacher is named by its run and read from the weights folder.
    monkeypatch.setitem(recipe.RECIPE, "tiny_loo", loo)
    student = dataclasses.replace(RUN, name="tiny_student", input_size=24, teacher="tiny_loo", frame_steps=2,
                                  clip_steps=2)
    ck = load_checkpoint(train_run(student, data, cfg))
    assert ck.preprocess.input_size == 24
    # The teacher is recorded where it was read (a leave-one-out run sits in loo/), with its digest.
    teacher_file = tmp_path / "weights" / "loo" / "tiny_loo.pt"
    assert ck.info["teacher"] == "tiny_loo.pt" and ck.info["trained_on"]["distilled_from"] == teacher_file.as_posix()
    assert ck.info["trained_on"]["distilled_from_sha256"] == sha256_file(teacher_file)
    assert all(torch.isfinite(p).all() for p in ck.model.parameters())


def test_a_warm_started_stage_with_talking_heads_starts_from_its_base_and_monitors_them(
        tmp_path: Path, ffpp_set: CropSet, dfdc_set: CropSet, tiny_factory: str) -> None:
    cfg = TrainConfig(weights_dir=str(tmp_path / "weights"), work_dir=str(tmp_path / "runs"))
    data = _data(ffpp_set, dfdc_set)
    data.crops["th_train"], data.crops["th_calib"] = _ffpp(seed=13), _ffpp(seed=14)
    base = load_checkpoint(train_run(dataclasses.replace(RUN, name="tiny_base", frame_steps=1, clip_steps=1),
                                     data, cfg))
    stage = dataclasses.replace(RUN, name="tiny_stage", init_from="tiny_base", talking_heads_share=0.3,
                                frozen_stages=("stem", "layer1", "layer2", "layer3", "layer4"), frame_steps=2,
                                clip_steps=1, eval_every=1)
    model = train_mod.build_model(stage, cfg.weights_dir)
    assert all(torch.equal(v, base.model.state_dict()[k]) for k, v in model.state_dict().items())
    ck = load_checkpoint(train_run(stage, data, cfg))
    assert "th_calib_frame_auc" in ck.info["monitoring_history"][0]
    # The base as read from this run's weights folder (not the shipped one), and its digest: the real lineage.
    assert ck.info["trained_on"]["warm_started_from"] == (tmp_path / "weights" / "tiny_base.pt").as_posix()
    assert ck.info["trained_on"]["warm_started_from_sha256"] == base.sha256
    assert any("talking_heads" in d for d in ck.info["trained_on"]["datasets"])
    # Every backbone stage frozen: the CNN is the base's, the heads moved.
    got, want = ck.model.state_dict(), base.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want if k.startswith("backbone."))
    assert not torch.equal(got["frame_head.weight"], want["frame_head.weight"])


def test_train_runs_the_plan_calibrates_and_skips_finished_runs(tmp_path: Path, ffpp_set: CropSet,
                                                                 dfdc_set: CropSet, tiny_factory: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = dataclasses.replace(RUN, name="tiny_a", frame_steps=1, clip_steps=1)
    held_out = dataclasses.replace(RUN, name="tiny_b", exclude_methods=("FaceSwap",), frame_steps=1, clip_steps=1)
    monkeypatch.setattr(train_mod, "RECIPE", {"tiny_a": shipped, "tiny_b": held_out})
    data = _data(ffpp_set, dfdc_set)
    data.splits["ffpp_calib"] = [LabelledItem(Path("/nowhere/c.mp4"), 0, ("c",), "ffpp/original")]
    monkeypatch.setattr(train_mod, "prepare_data", lambda cfg, work, only=None: data)
    calibrated = []
    monkeypatch.setattr(train_mod, "calibrate_for_verdicts",
                        lambda path, splits, work: calibrated.append((path, splits, work)))
    cfg = TrainConfig(runs=("tiny_a", "tiny_b"), weights_dir=str(tmp_path / "w"), work_dir=str(tmp_path / "r"))
    written = train_mod.train(cfg)
    assert written == [tmp_path / "w" / "tiny_a.pt", tmp_path / "w" / "loo" / "tiny_b.pt"]
    # Only the shipped model is calibrated, on the calibration pool of the run's own splits.
    assert calibrated == [(written[0], data.splits, tmp_path / "r")]
    assert (tmp_path / "r" / "tiny_a" / "done").is_file() and (tmp_path / "r" / "tiny_b" / "done").is_file()
    # A second `make train` finds both done: nothing is trained or calibrated again.
    monkeypatch.setattr(train_mod, "train_run", lambda *a: pytest.fail("a finished run was trained again"))
    assert train_mod.train(cfg) == written
    assert len(calibrated) == 1


# --------------------------------------------------------------------------- files


def test_cropset_save_load_roundtrip(ffpp_set: CropSet, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "ffpp_train_m90_s64_f5_mesh"
    ffpp_set.save(path)
    assert path.with_suffix(".npz").is_file() and path.with_suffix(".json").is_file()
    back = CropSet.load(path)
    for name in ("crops", "boxes", "keypoints", "landmarks", "item"):
        a, b = getattr(ffpp_set, name), getattr(back, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)  # NaN where the mesh found nothing stays NaN
    assert back.items == ffpp_set.items
    assert back.mesh(1) is None and back.mesh(0) is not None


def test_load_or_extract_uses_the_cache_only_when_it_matches(tmp_path: Path, ffpp_set: CropSet,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = DataConfig(cache_dir=str(tmp_path / "cache"), cache_size=CACHE, cache_margin=MARGIN)
    items = [LabelledItem(Path(m["path"]), m["label"], tuple(m["identities"]), m["source"]) for m in ffpp_set.items]
    calls = []

    def fake_extract(its, n_frames, size, margin):
        calls.append((len(its), n_frames, size, margin))
        return ffpp_set

    monkeypatch.setattr(splits_mod, "extract_crops", fake_extract)
    cs, seconds = load_or_extract("ffpp_train", items, 5, cfg)
    assert cs is ffpp_set and calls == [(5, 5, CACHE, MARGIN)] and seconds >= 0
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert files == ["ffpp_train_m90_s64_f5_mesh.json", "ffpp_train_m90_s64_f5_mesh.npz",
                     "ffpp_train_m90_s64_f5_mesh.seconds"]
    # The same items again: read from the cache, with the recorded extraction time.
    cs2, seconds2 = load_or_extract("ffpp_train", items, 5, cfg)
    assert len(calls) == 1 and seconds2 == pytest.approx(seconds, abs=0.05)
    np.testing.assert_array_equal(cs2.crops, ffpp_set.crops)
    # Other items under the same name: extracted afresh.
    load_or_extract("ffpp_train", items[:-1], 5, cfg)
    assert len(calls) == 2


def test_write_split_csvs_readable_by_read_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"

    def item(rel: str, label: int, ids: tuple[str, ...], source: str) -> LabelledItem:
        p = data / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
        return LabelledItem(p, label, ids, source)

    splits = {
        "ffpp_train": [item("orig/000.mp4", 0, ("000",), "ffpp/original"),
                       item("fake/000_003.mp4", 1, ("000", "003"), "ffpp/Deepfakes")],
        "ffpp_calib": [item("orig/004.mp4", 0, ("004",), "ffpp/original")],
        "dfdc_test": [item("faces/a, b.jpg", 1, ("orig",), "dfdc"),  # a comma in the name is quoted
                      item("faces/orig.jpg", 0, ("orig",), "dfdc")],
    }
    paths = write_split_csvs(splits, tmp_path / "splits")
    assert set(paths) == set(splits)
    for name, items in splits.items():
        assert paths[name] == tmp_path / "splits" / f"{name}.csv"
        back = read_csv(paths[name])
        got = {(it.path.resolve(), it.label, it.identities) for it in back}
        assert got == {(it.path.resolve(), it.label, it.identities) for it in items}
        assert paths[name].read_text().splitlines()[0] == "path,label,identity,source"


# --------------------------------------------------------------------------- extract_crops


def test_extract_crops_from_synthetic_clips(tmp_path: Path, sample_dir: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    items = [
        LabelledItem(sample_dir / REAL_CLIP, 0, ("astronaut",), "test"),
        LabelledItem(sample_dir / SELFBLEND_CLIP, 1, ("astronaut",), "test"),
        LabelledItem(sample_dir / REAL_STILL, 0, ("astronaut",), "test"),
        LabelledItem(broken, 1, ("broken",), "test"),  # skipped, with n_crops 0
    ]
    size = 128
    cs = extract_crops(items, 3, size, MARGIN, log_every=0)
    assert [m["n_crops"] for m in cs.items] == [3, 3, 1, 0]
    assert [m["label"] for m in cs.items] == [0, 1, 0, 1]
    n = 7
    assert cs.crops.shape == (n, size, size, 3) and cs.crops.dtype == np.uint8
    assert cs.boxes.shape == (n, 4) and cs.keypoints.shape == (n, 6, 2)
    assert cs.landmarks.shape == (n, N_LANDMARKS, 2) and cs.landmarks.dtype == np.float32
    assert cs.item.tolist() == [0, 0, 0, 1, 1, 1, 2]
    # The region is cut around the box with the generous margin: the box sits in the middle, side ~ S / 1.9.
    x, y, w, h = cs.boxes.T
    assert np.allclose(np.maximum(w, h), size / (1 + MARGIN), rtol=0.05)
    assert np.allclose(x + w / 2, size / 2, atol=2) and np.allclose(y + h / 2, size / 2, atol=2)
    assert (cs.keypoints[:, :4] >= 0).all() and (cs.keypoints[:, :4] <= size).all()
    # The Face Mesh found the astronaut in every region: 468 points inside the region, around the box.
    for i in range(n):
        pts = cs.mesh(i)
        assert pts is not None, i
        assert (pts >= 0).all() and (pts <= size).all()
        bx, by, bw, bh = cs.face_box(i)
        cx, cy = pts.mean(axis=0)
        assert bx <= cx <= bx + bw and by <= cy <= by + bh
        # Most points lie within the box grown by a third (the mesh reaches forehead and chin).
        gx, gy = bw / 3, bh / 3
        inside = ((pts[:, 0] >= bx - gx) & (pts[:, 0] <= bx + bw + gx) &
                  (pts[:, 1] >= by - gy) & (pts[:, 1] <= by + bh + gy))
        assert inside.mean() > 0.95
    # The model's crop is cut from a cached region with the inference function.
    assert model_face(cs, 0, PRE, np.random.default_rng(0), 0.0, augment=IDENTITY).shape == (32, 32, 3)


def test_lineage_names_the_regions_the_self_blends_covered() -> None:
    targeted = dataclasses.replace(RUN, blend_regions=(0.4, 0.3, 0.15, 0.15))
    data = TrainingData({"ffpp_train": []}, {}, None)
    text = train_mod.training_data_info(targeted, data, {})["synthesised"]
    assert text.endswith("the region blended: the whole face 40%, the mouth and jaw 30%, the eyes 15%, "
                         "the inner face 15%")
    mouth_only = dataclasses.replace(RUN, blend_regions=(0.0, 1.0, 0.0, 0.0))
    text = train_mod.training_data_info(mouth_only, data, {})["synthesised"]
    assert text.endswith("the region blended: the mouth and jaw 100%")  # regions never blended are not named
