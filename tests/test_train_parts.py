"""dfcore.train and dfcore.face_cache without the real data: tiny synthetic crop sets and a tiny model.

Nothing here reads the training data; the crops are smooth random images (or crops
extracted from the synthetic astronaut clips), and the model is a randomly
initialised, very narrow ResNeXt-LSTM. These tests check plumbing -- shapes,
determinism, packing, files -- not what the model learns.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dfcore.datasets import LabelledItem, read_csv
from dfcore.face_cache import CropSet, extract_crops
from dfcore.model import ResNeXtLSTM, create_model
from dfcore.preprocessing import PreprocessConfig, to_tensor
from dfcore.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, SampleOptions, generate_samples
from dfcore.train import BatchMaker, TrainConfig, forward_packed, lr_at, validation_logits, write_split_csvs

CACHE = 64
PRE = PreprocessConfig(input_size=32)  # input_size <= cache_size: crops are only ever shrunk
CFG = TrainConfig(seq_per_step=2, images_per_step=4, seq_len=(2, 4), cache_size=CACHE, seed=0)
B = CFG.seq_per_step + CFG.images_per_step


def _smooth_images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)
    return np.stack([cv2.resize(s, (CACHE, CACHE), interpolation=cv2.INTER_CUBIC) for s in small])


def _face_geometry(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and keypoints as a margin-0.3 crop places them: a centred box of side S / 1.3."""
    side = CACHE / 1.3
    x0 = (CACHE - side) / 2
    boxes = np.tile(np.array([x0, x0, side, side], np.float32), (n, 1))
    rel = np.array([(0.29, 0.35), (0.71, 0.35), (0.5, 0.6), (0.5, 0.77), (0.05, 0.4), (0.95, 0.4)], np.float32)
    kps = np.tile((x0 + rel * side)[None], (n, 1, 1)).astype(np.float32)
    return boxes, kps


def _cropset(crops_per_item: list[int], labels: list[int], seed: int) -> CropSet:
    n = sum(crops_per_item)
    boxes, kps = _face_geometry(n)
    owner = np.repeat(np.arange(len(crops_per_item)), crops_per_item).astype(np.int32)
    items = [{"path": f"/nowhere/{i:03d}.mp4", "label": lab, "identities": [f"{i:03d}"], "source": "test",
              "n_crops": c} for i, (c, lab) in enumerate(zip(crops_per_item, labels))]
    return CropSet(_smooth_images(n, seed), boxes, kps, owner, items)


@pytest.fixture(scope="module")
def ffpp_set() -> CropSet:
    # Two real and two fake "clips" of 5-6 crops, plus a real clip where no face was found.
    return _cropset([5, 6, 5, 6, 0], [0, 1, 0, 1, 0], seed=1)


@pytest.fixture(scope="module")
def dfdc_set() -> CropSet:
    return _cropset([1] * 8, [0, 1] * 4, seed=2)


@pytest.fixture(scope="module")
def batches(ffpp_set: CropSet, dfdc_set: CropSet) -> BatchMaker:
    return BatchMaker(ffpp_set, dfdc_set, CFG, PRE)


@pytest.fixture(scope="module")
def tiny_model() -> ResNeXtLSTM:
    torch.manual_seed(0)
    return create_model("resnext_compact_lstm", stem_width=8, stage_planes=(4, 8, 8, 8), stage_blocks=(1, 1, 1, 1),
                        cardinality=4, lstm_hidden=8)


# --------------------------------------------------------------------------- BatchMaker


def test_config_sizes_are_consistent() -> None:
    assert PRE.input_size <= CFG.cache_size
    assert CFG.seq_len[0] >= 1 and CFG.seq_len[0] <= CFG.seq_len[1]


def test_batch_shapes_and_labels(batches: BatchMaker) -> None:
    frames, lengths, clip_y, frame_y = batches.make(0)
    n = int(lengths.sum())
    assert frames.shape == (n, 3, PRE.input_size, PRE.input_size) and frames.dtype == torch.float32
    assert torch.isfinite(frames).all()
    assert lengths.shape == (B,) and clip_y.shape == (B,) and frame_y.shape == (n,)
    lo, hi = CFG.seq_len
    assert all(lo <= int(t) <= hi for t in lengths[: CFG.seq_per_step])
    assert (lengths[CFG.seq_per_step :] == 1).all()  # single DFDC faces
    # Balanced: alternating real/fake in both parts of the step.
    assert clip_y.tolist() == [0.0, 1.0] * (CFG.seq_per_step // 2) + [0.0, 1.0] * (CFG.images_per_step // 2)
    assert torch.equal(frame_y, torch.repeat_interleave(clip_y, lengths))
    # Normalised as to_tensor does: pixel 0..255 maps to (0 - 0.5) / 0.25 .. (1 - 0.5) / 0.25.
    assert frames.min() >= -2.0 and frames.max() <= 2.0


def test_batch_deterministic_per_step(batches: BatchMaker, ffpp_set: CropSet, dfdc_set: CropSet) -> None:
    a = batches.make(3)
    b = batches.make(3)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    # A fresh BatchMaker with the same seed reproduces the step (resuming reproduces the run).
    c = BatchMaker(ffpp_set, dfdc_set, CFG, PRE).make(3)
    assert all(torch.equal(x, y) for x, y in zip(a, c))
    d = batches.make(4)
    assert d[0].shape != a[0].shape or not torch.equal(d[0], a[0])


def test_batch_skips_clips_without_crops(batches: BatchMaker) -> None:
    # Item 4 has no crops: it is in no pool.
    pooled = {int(batches.ffpp.item[idx[0]]) for lab in (0, 1) for idx in batches.ff_clips[lab]}
    assert pooled == {0, 1, 2, 3}
    assert len(batches.ff_clips[0]) == 2 and len(batches.ff_clips[1]) == 2
    assert [len(batches.dd_idx[lab]) for lab in (0, 1)] == [4, 4]


# --------------------------------------------------------------------------- model steps


def test_forward_packed_shapes_and_matches_per_sequence(batches: BatchMaker, tiny_model: ResNeXtLSTM) -> None:
    frames, lengths, _, _ = batches.make(1)
    tiny_model.eval()
    with torch.no_grad():
        clip, per_frame = forward_packed(tiny_model, frames, lengths)
        assert clip.shape == (B,) and per_frame.shape == (int(lengths.sum()),)
        # Packing must not change a sequence's scores: run each sequence on its own.
        start = 0
        for b, t in enumerate(lengths.tolist()):
            c, f = tiny_model(frames[start : start + t].unsqueeze(0))
            assert float(c[0]) == pytest.approx(float(clip[b]), abs=1e-4)
            torch.testing.assert_close(f[0], per_frame[start : start + t], atol=1e-4, rtol=1e-4)
            start += t


def test_training_steps_are_finite_and_fit_a_fixed_batch(batches: BatchMaker) -> None:
    torch.manual_seed(0)
    model = create_model("resnext_compact_lstm", stem_width=8, stage_planes=(4, 8, 8, 8),
                         stage_blocks=(1, 1, 1, 1), cardinality=4, lstm_hidden=8, dropout=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=CFG.weight_decay)
    frames, lengths, clip_y, frame_y = batches.make(0)

    def loss_fn() -> torch.Tensor:
        c, f = forward_packed(model, frames, lengths)
        return F.binary_cross_entropy_with_logits(c, clip_y) + \
            CFG.frame_loss_weight * F.binary_cross_entropy_with_logits(f, frame_y)

    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    losses = []
    for _ in range(15):
        loss = loss_fn()
        assert torch.isfinite(loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
    assert any(not torch.equal(p, q) for p, q in zip(before, model.parameters()))
    # Starting near ln 2 (x 1.5 for the two heads), not exploding, and fitting the one batch it sees.
    assert losses[0] < 3.0, losses
    assert losses[-1] < losses[0], losses


def test_validation_logits(ffpp_set: CropSet, tiny_model: ResNeXtLSTM) -> None:
    clip_l, clip_y, frame_l, frame_y = validation_logits(tiny_model, ffpp_set, PRE, 3)
    assert clip_l.shape == clip_y.shape == (4,)  # the item without crops is left out
    assert clip_y.tolist() == [0, 1, 0, 1]
    assert frame_l.shape == frame_y.shape == (12,)  # 3 frames from each item
    assert np.isfinite(clip_l).all() and np.isfinite(frame_l).all()


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=1e-3, warmup=10, steps=110)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(0.5e-3)  # half-way through the cosine
    assert lr_at(110, cfg) == pytest.approx(0.0, abs=1e-12)
    decay = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert lr_at(35, cfg) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.25)))


# --------------------------------------------------------------------------- CropSet files


def test_cropset_save_load_roundtrip(ffpp_set: CropSet, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "ffpp_train_m0.3_s64_f5"
    ffpp_set.save(path)
    assert path.with_suffix(".npz").is_file() and path.with_suffix(".json").is_file()
    back = CropSet.load(path)
    for name in ("crops", "boxes", "keypoints", "item"):
        a, b = getattr(ffpp_set, name), getattr(back, name)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert back.items == ffpp_set.items


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
        "dfdc_val": [item("faces/a, b.jpg", 1, ("orig",), "dfdc"),  # a comma in the name is quoted
                     item("faces/orig.jpg", 0, ("orig",), "dfdc")],
    }
    paths = write_split_csvs(splits, tmp_path / "splits")
    assert set(paths) == set(splits)
    for name, items in splits.items():
        back = read_csv(paths[name])
        got = {(it.path.resolve(), it.label, it.identities) for it in back}
        assert got == {(it.path.resolve(), it.label, it.identities) for it in items}
        assert paths[name].read_text().splitlines()[0] == "path,label,identity,source"


# --------------------------------------------------------------------------- extract_crops


def test_extract_crops_from_synthetic_clips(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    generate_samples(out, SampleOptions(duration_s=0.8, fps=5, size=(192, 144)))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    items = [
        LabelledItem(out / REAL_CLIP, 0, ("astronaut",), "test"),
        LabelledItem(out / SELFBLEND_CLIP, 1, ("astronaut",), "test"),
        LabelledItem(out / REAL_STILL, 0, ("astronaut",), "test"),
        LabelledItem(broken, 1, ("broken",), "test"),  # skipped, with n_crops 0
    ]
    cs = extract_crops(items, 3, PreprocessConfig(), cache_size=CACHE, log_every=0)
    assert [m["n_crops"] for m in cs.items] == [3, 3, 1, 0]
    assert [m["label"] for m in cs.items] == [0, 1, 0, 1]
    n = 7
    assert cs.crops.shape == (n, CACHE, CACHE, 3) and cs.crops.dtype == np.uint8
    assert cs.boxes.shape == (n, 4) and cs.keypoints.shape == (n, 6, 2)
    assert cs.item.tolist() == [0, 0, 0, 1, 1, 1, 2]
    # The crop is cut around the box with a 0.3 margin: the box sits in the middle, side ~ S / 1.3.
    x, y, w, h = cs.boxes.T
    side = np.maximum(w, h)
    assert np.allclose(side, CACHE / 1.3, rtol=0.05)
    assert np.allclose(x + w / 2, CACHE / 2, atol=2) and np.allclose(y + h / 2, CACHE / 2, atol=2)
    assert (cs.keypoints[:, :4] >= 0).all() and (cs.keypoints[:, :4] <= CACHE).all()
    # The tensors the trainer makes from these crops have the model's shape.
    assert to_tensor(np.stack([cv2.resize(c, (32, 32)) for c in cs.crops]), PRE).shape == (n, 3, 32, 32)
