"""Training on your own data (``dfcore.training.custom``, ``python -m dfcore train --dataset/--csv``).

Every clip is generated here: four seeds of the synthetic astronaut samples (two real files and
two fakes each), renamed per seed so that every file stem, the folder reader's identity, differs.
The runs start from a TINY, randomly initialised checkpoint (a 32-pixel, ~7 k-parameter
ResNeXt-LSTM) and train for two steps per stage: they check plumbing -- the split, the files,
the manifest, the calibration, the card, the error messages -- never detection quality.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dfcore.training.custom as custom_mod
from dfcore.cli import EXIT_INPUT_ERROR, main
from dfcore.decision import percent
from dfcore.errors import DatasetError
from dfcore.models.checkpoint import load_checkpoint, read_manifest, save_checkpoint, sha256_file
from dfcore.models.model import ModelConfig, ResNeXtLSTM
from dfcore.models.model_registry import list_models, resolve_model, write_index
from dfcore.synth.samples import REAL_CLIP, SampleOptions, generate_samples
from dfcore.training.custom import (
    CustomTrainOptions,
    plan_splits,
    read_datasets,
    resolve_base,
    train_custom,
)
from dfcore.vision.preprocessing import PreprocessConfig

REPO = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3)
TINY_NAME = "tiny_custom_lstm"  # stored in the checkpoint only: nothing builds this architecture by name
TINY = ModelConfig(stem_width=8, stage_planes=(4, 8, 8, 8), stage_blocks=(1, 1, 1, 1), cardinality=4, lstm_hidden=8)
# The base checkpoint's calibration: deliberately not the defaults, so "kept" and "refitted" can be told apart.
BASE_CALIBRATION = (1.5, -0.2, 1.3)  # temperature, bias, frame temperature
BASE_THRESHOLD = 0.6
DEFAULT_DECISION = (0.5, 1.0, 0.0, 1.0)  # threshold, temperature, bias, frame temperature of an uncalibrated save


@pytest.fixture(autouse=True)
def _one_thread():
    """A CLI `train` without --threads trains at 2: keep the rest of the session at 1."""
    yield
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int]]:
    """16 generated files, (path, label): per seed a real clip, a real still and two fake clips.

    Each seed zooms slightly differently, so the clips differ; each name is prefixed ``sN_``.
    """
    out = tmp_path_factory.mktemp("custom_pool")
    files = []
    for s in SEEDS:
        opts = SampleOptions(duration_s=2.0, fps=15, size=(320, 240), seed=s,
                             zoom=(1.2 + 0.03 * s, 1.35 + 0.03 * s))
        for p in generate_samples(out / f"gen{s}", opts):
            dest = out / f"s{s}_{p.name}"
            shutil.move(p, dest)
            files.append((dest, 0 if "_real_" in p.name else 1))
    assert sorted(lab for _, lab in files) == [0] * 8 + [1] * 8
    return files


def _folder(root: Path, files: list[tuple[Path, int]]) -> Path:
    """A real/ + fake/ dataset folder holding copies of ``files``."""
    for p, label in files:
        d = root / ("real", "fake")[label]
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, d / p.name)
    return root


@pytest.fixture(scope="module")
def dataset(pool: list[tuple[Path, int]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _folder(tmp_path_factory.mktemp("custom_ds") / "mydata", pool)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny UNTRAINED checkpoint, saved with a non-default calibration (BASE_CALIBRATION)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("custom_base") / "tiny.pt"
    t, b, ft = BASE_CALIBRATION
    save_checkpoint(path, ResNeXtLSTM(TINY), TINY_NAME, PreprocessConfig(input_size=32), threshold=BASE_THRESHOLD,
                    temperature=t, bias=b, frame_temperature=ft)
    return path


def _opts(datasets: list[Path], out: Path, base: Path, **kw) -> CustomTrainOptions:
    """Small, fast options: 2 + 2 steps of 4 faces, 4 frames per clip, 10 frames reported, 1 thread."""
    small = dict(init=str(base), steps=2, clip_steps=2, frames_per_clip=4, batch=4, frame_counts=(10,),
                 work_dir=str(out.parent / "work"), threads=1)
    return CustomTrainOptions(datasets=tuple(map(str, datasets)), out=str(out), **{**small, **kw})


@pytest.fixture(scope="module")
def folder_run(dataset: Path, base: Path, tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("custom_out") / "mine.pt"
    return train_custom(_opts([dataset], out, base))


def _write_csv(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _csv_dataset(root: Path, pool: list[tuple[Path, int]], identity: bool = False) -> Path:
    """The pool's files flat in root/clips/ (no real/ or fake/: the labels come from the CSV), listed by
    relative path in root/labels.csv; with ``identity``, each seed's four files share one identity."""
    (root / "clips").mkdir(parents=True)
    rows = []
    for p, label in pool:
        shutil.copy(p, root / "clips" / p.name)
        row = [f"clips/{p.name}", ("real", "fake")[label]]
        rows.append(row + [f"person_{p.name.split('_')[0]}"] if identity else row)
    return _write_csv(root / "labels.csv", rows, ["path", "label"] + (["identity"] if identity else []))


def _total(sizes: dict) -> int:
    return sum(n for part in sizes.values() for n in part.values())


# --------------------------------------------------------------------------- a fine-tune on a real/ + fake/ folder


@pytest.mark.slow
def test_folder_fine_tune_writes_checkpoint_manifest_and_card(folder_run, dataset: Path, base: Path) -> None:
    r = folder_run
    out = Path(r.checkpoint)
    assert out.name == "mine.pt" and out.is_file()

    # Loadable, its hash verified against SHA256SUMS, which holds the returned sha256.
    ck = load_checkpoint(out)
    assert ck.sha256 == r.sha256 == sha256_file(out)
    assert read_manifest(out.parent / "SHA256SUMS")["mine.pt"] == r.sha256
    assert ck.model_name == TINY_NAME and ck.model.config == TINY and ck.preprocess.input_size == 32

    # Fine-tuned from the base: its weights moved, and it says where it started.
    base_ck = load_checkpoint(base)
    sd, base_sd = ck.model.state_dict(), base_ck.model.state_dict()
    assert sd.keys() == base_sd.keys()
    assert any(not torch.equal(sd[k], base_sd[k]) for k in sd if sd[k].is_floating_point())
    assert base_ck.sha256 in ck.info["base_model"]

    # Calibrated afresh on the calibration split: neither an uncalibrated save nor the base's calibration.
    decision = (ck.threshold, ck.temperature, ck.bias, ck.frame_temperature)
    assert decision != DEFAULT_DECISION
    assert decision != (BASE_THRESHOLD, *BASE_CALIBRATION)
    assert ck.temperature > 0 and 0.0 <= ck.threshold <= 1.0
    calib = ck.info["calibration"]
    assert (calib["temperature"], calib["bias"], calib["frame_temperature"], calib["threshold"]) == \
           (ck.temperature, ck.bias, ck.frame_temperature, ck.threshold)

    # The card: beside the checkpoint, on disk as returned, listing the data and the split.
    card_path = out.with_name("mine.card.json")
    assert Path(r.card_path) == card_path and card_path.is_file()
    on_disk = json.loads(card_path.read_text())
    assert on_disk["sha256"] == r.card["sha256"] == r.sha256
    data = on_disk["training"]["data"]
    assert any(str(dataset) in d and "folder" in d for d in data["datasets"]), data["datasets"]
    assert _total(data["sizes"]) == 16
    assert all(data["sizes"][part]["real"] >= 1 for part in ("train", "calibration", "validation"))
    assert all(data["sizes"][part]["fake"] >= 1 for part in ("calibration", "validation"))
    assert "by file" in data["split"] and "by identity" not in data["split"]
    assert data["real_only"] is False
    assert "self-blended" in data["synthesised"] and "ONLY" not in data["synthesised"]
    assert on_disk["decision"]["calibration_split_clips"] == data["sizes"]["calibration"]
    assert base_ck.sha256 in on_disk["base_model"]

    # The metrics: the frame counts asked for, measured on the validation split (every item of it).
    metrics = on_disk["metrics"]["validation"]
    assert metrics["split"] == "validation"
    assert set(metrics["by_frames"]) == {"10"}
    assert metrics["by_frames"]["10"]["n_videos"] == sum(data["sizes"]["validation"].values())

    # Its limitations are about this model: not the shipped models' "Trained on ... FaceForensics++ c23 subset".
    assert not any("FaceForensics++" in line for line in on_disk["limitations"])
    assert any("Clips without a detectable face give NO_FACE" in line for line in on_disk["limitations"])
    # A calibration split of a few real clips cannot set a trustworthy threshold: the card says so first.
    n_calib_real = on_disk["training"]["data"]["sizes"]["calibration"]["real"]
    assert n_calib_real < 20
    assert on_disk["limitations"][0].startswith(f"Warning: the threshold and calibration rest on {n_calib_real} real")

    md = out.with_name("mine.card.md")
    assert md.is_file()
    text = md.read_text()
    assert "validation split" in text and r.sha256 in text and str(dataset) in text

    # The face cache went under the work dir given, not the repository's runs/.
    assert any((out.parent / "work" / "mine" / "faces").glob("train_*.npz"))


# --------------------------------------------------------------------------- CSV


@pytest.mark.slow
def test_csv_run_through_the_cli(pool: list[tuple[Path, int]], base: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    csv_path = _csv_dataset(tmp_path / "data", pool)
    out, work = tmp_path / "weights" / "from_csv.pt", tmp_path / "work"
    seen = []
    real_train = custom_mod.train_custom

    def spy(opts: CustomTrainOptions):
        seen.append(opts)
        return real_train(opts)

    monkeypatch.setattr(custom_mod, "train_custom", spy)
    rc = main(["train", "--csv", str(csv_path), "--init", str(base), "--steps", "2", "--clip-steps", "2",
               "--frames-per-clip", "4", "--frames", "10", "--batch", "4", "--threads", "1", "--out", str(out),
               "--work-dir", str(work)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    (opts,) = seen
    assert opts.datasets == (str(csv_path),) and opts.init == str(base) and opts.frame_counts == (10,)
    assert (opts.steps, opts.clip_steps, opts.frames_per_clip, opts.work_dir) == (2, 2, 4, str(work))
    assert (opts.batch, opts.threads) == (4, 1)

    sha = sha256_file(out)
    assert f"{out}  sha256 {sha}" in captured.out and "card: " in captured.out
    assert read_manifest(out.parent / "SHA256SUMS")["from_csv.pt"] == sha
    load_checkpoint(out)
    card = json.loads(out.with_name("from_csv.card.json").read_text())
    data = card["training"]["data"]
    assert data["datasets"] == [f"{csv_path} (csv layout)"]
    assert _total(data["sizes"]) == 16
    assert "csv: by file" in data["split"]
    assert set(card["metrics"]["validation"]["by_frames"]) == {"10"}
    # The card records the command that repeats the run, every flag that differs from the defaults included.
    command = card["training"]["command"]
    assert command.startswith(f"python -m dfcore train --dataset {csv_path} --init {base} ")
    for flag in ("--steps 2", "--clip-steps 2", "--frames-per-clip 4", "--batch 4", "--frames 10", f"--out {out}"):
        assert flag in command


@pytest.mark.slow
def test_csv_with_identity_column_splits_by_identity(pool: list[tuple[Path, int]], base: Path,
                                                    tmp_path: Path) -> None:
    csv_path = _csv_dataset(tmp_path / "data", pool, identity=True)
    items = read_datasets([str(csv_path)])
    assert {it.identities for it in items} == {(f"person_s{s}",) for s in SEEDS}
    plan = plan_splits(items, 0.2, 0.2, 0)
    assert plan.basis == {"csv": "identity"}
    parts = [{i for it in part for i in it.identities} for part in (plan.train, plan.calib, plan.val)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])

    r = train_custom(_opts([csv_path], tmp_path / "out" / "by_id.pt", base))
    data = r.card["training"]["data"]
    assert "csv: by identity" in data["split"] and "by file" not in data["split"].split("otherwise")[1]
    # Each identity is a whole seed (2 real + 2 fake): every split holds whole seeds.
    assert data["sizes"] == plan.sizes()
    assert all(n % 2 == 0 and n > 0 for part in ("calibration", "validation") for n in data["sizes"][part].values())
    load_checkpoint(r.checkpoint)


# --------------------------------------------------------------------------- real clips only


@pytest.mark.slow
def test_real_only_run_trains_on_self_blends_and_keeps_the_base_calibration(pool: list[tuple[Path, int]],
                                                                           base: Path, tmp_path: Path) -> None:
    reals = _folder(tmp_path / "reals", [(p, lab) for p, lab in pool if lab == 0])
    assert not (reals / "fake").exists()
    r = train_custom(_opts([reals], tmp_path / "out" / "realonly.pt", base))

    data = r.card["training"]["data"]
    assert data["real_only"] is True
    assert "ONLY fakes" in data["synthesised"] and "SBI only" in data["synthesised"]
    assert all(data["sizes"][part]["fake"] == 0 for part in data["sizes"]) and _total(data["sizes"]) == 8
    assert r.card["decision"]["calibration_fakes_caught"] is None
    assert any("no fakes" in line for line in r.card["limitations"])

    ck = load_checkpoint(r.checkpoint)
    assert ck.sha256 == r.sha256
    assert (ck.temperature, ck.bias, ck.frame_temperature) == BASE_CALIBRATION
    assert 0.0 <= ck.threshold <= 1.0
    calib = ck.info["calibration"]
    assert calib["split_clips"] == {"real": data["sizes"]["calibration"]["real"], "fake": 0}
    assert calib["threshold"] == ck.threshold and calib["calibration_real_called_fake"] <= 0.05
    assert set(r.card["metrics"]["validation"]["by_frames"]) == {"10"}


# --------------------------------------------------------------------------- bad data: one message each


def test_empty_folder(tmp_path: Path, base: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out" / "x.pt"
    with pytest.raises(DatasetError, match="the dataset folder is empty") as e:
        train_custom(_opts([empty], out, base))
    assert str(empty) in e.value.message

    rc = main(["train", "--dataset", str(empty), "--init", str(base), "--out", str(out),
               "--work-dir", str(tmp_path / "work"), "--frames", "10"])
    err = capsys.readouterr().err
    assert rc == EXIT_INPUT_ERROR
    assert f"error: {empty}: the dataset folder is empty" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "work").exists()


@pytest.mark.parametrize("header, missing", [(["path", "kind"], "label"), (["file", "label"], "path")])
def test_csv_missing_a_column(tmp_path: Path, base: Path, pool: list[tuple[Path, int]], header: list[str],
                              missing: str, capsys: pytest.CaptureFixture) -> None:
    csv_path = _write_csv(tmp_path / "list.csv", [[str(p), ("real", "fake")[lab]] for p, lab in pool], header)
    out = tmp_path / "out" / "x.pt"
    with pytest.raises(DatasetError, match=rf"header lacks column\(s\) {missing}\b") as e:
        train_custom(_opts([csv_path], out, base))
    assert str(csv_path) in e.value.message and "Expected a comma-separated header with path, label" in e.value.message

    rc = main(["train", "--csv", str(csv_path), "--init", str(base), "--out", str(out),
               "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == EXIT_INPUT_ERROR
    assert f"lacks column(s) {missing}" in err and str(csv_path) in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("n_bad", [2, 7])
def test_unreadable_files_are_listed_before_training(tmp_path: Path, base: Path, pool: list[tuple[Path, int]],
                                                     n_bad: int, capsys: pytest.CaptureFixture) -> None:
    ds = _folder(tmp_path / "ds", pool[:8])
    rng = np.random.default_rng(n_bad)
    bad = [ds / "real" / f"broken_{i}.mp4" for i in range(n_bad)]
    for p in bad:
        p.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    out = tmp_path / "out" / "x.pt"
    with pytest.raises(DatasetError, match=rf"{n_bad} of {8 + n_bad} files cannot be read") as e:
        train_custom(_opts([ds], out, base))
    msg = e.value.message
    named = [p for p in bad if p.name in msg]
    assert len(named) == min(n_bad, 5)
    assert ("more" in msg) == (n_bad > 5) and ("and 2 more" in msg) == (n_bad == 7)
    assert not any(p.name in msg for p, _ in pool[:8])  # the good files are not accused
    assert "Remove or replace them" in msg
    assert not out.exists()

    if n_bad == 7:
        rc = main(["train", "--dataset", str(ds), "--init", str(base), "--out", str(out),
                   "--work-dir", str(tmp_path / "work")])
        err = capsys.readouterr().err
        assert rc == EXIT_INPUT_ERROR
        assert "error: 7 of 15 files cannot be read" in err and "and 2 more" in err and "Traceback" not in err


def test_only_fakes(tmp_path: Path, base: Path, pool: list[tuple[Path, int]]) -> None:
    ds = _folder(tmp_path / "fakes", [(p, lab) for p, lab in pool if lab == 1])
    with pytest.raises(DatasetError, match=r"only fake items \(8\)") as e:
        train_custom(_opts([ds], tmp_path / "out" / "x.pt", base))
    assert "Add real clips" in e.value.message


@pytest.mark.parametrize("n_real, n_fake", [(2, 2), (3, 1), (2, 0)])
def test_too_few_items_to_split(tmp_path: Path, base: Path, pool: list[tuple[Path, int]], n_real: int,
                                n_fake: int) -> None:
    reals = [(p, lab) for p, lab in pool if lab == 0][:n_real]
    fakes = [(p, lab) for p, lab in pool if lab == 1][:n_fake]
    ds = _folder(tmp_path / "few", reals + fakes)
    with pytest.raises(DatasetError, match=rf"{n_real + n_fake} items \({n_real} real, {n_fake} fake\) are too few"):
        train_custom(_opts([ds], tmp_path / "out" / "x.pt", base))
    assert not (tmp_path / "out").exists()


def test_init_and_from_imagenet_together(dataset: Path, base: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out" / "x.pt"
    with pytest.raises(DatasetError, match="--init and --from-imagenet both given"):
        resolve_base(_opts([dataset], out, base, from_imagenet=True))
    with pytest.raises(DatasetError, match="--init and --from-imagenet both given"):
        train_custom(_opts([dataset], out, base, from_imagenet=True))

    rc = main(["train", "--dataset", str(dataset), "--init", str(base), "--from-imagenet", "--out", str(out),
               "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == EXIT_INPUT_ERROR
    assert "error: --init and --from-imagenet both given. Choose one starting point." in err
    assert not out.exists()


def test_model_other_than_the_init_checkpoints_architecture(dataset: Path, base: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out" / "x.pt"
    with pytest.raises(DatasetError, match=f"is a {TINY_NAME} checkpoint, not resnext_compact_lstm") as e:
        train_custom(_opts([dataset], out, base, model="resnext_compact_lstm"))
    assert str(base) in e.value.message
    # The architecture the checkpoint does have is accepted.
    assert resolve_base(_opts([dataset], out, base, model=TINY_NAME)).model_name == TINY_NAME

    rc = main(["train", "--dataset", str(dataset), "--init", str(base), "--model", "lite0_lstm", "--out", str(out),
               "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == EXIT_INPUT_ERROR
    assert f"error: {base}: is a {TINY_NAME} checkpoint, not lite0_lstm" in err
    assert not out.exists()


def test_an_existing_output_is_never_overwritten(folder_run, dataset: Path, base: Path) -> None:
    before = Path(folder_run.checkpoint).read_bytes()
    with pytest.raises(DatasetError, match="already exists"):
        train_custom(_opts([dataset], Path(folder_run.checkpoint), base))
    assert Path(folder_run.checkpoint).read_bytes() == before


# --------------------------------------------------------------------------- using the result


@pytest.mark.slow
def test_fine_tuned_checkpoint_analyses_a_clip_through_the_cli(folder_run, pool: list[tuple[Path, int]]) -> None:
    clip = next(p for p, _ in pool if p.name.endswith(REAL_CLIP))
    ck = load_checkpoint(folder_run.checkpoint)
    proc = subprocess.run(
        [sys.executable, "-m", "dfcore", "analyze", str(clip), "--weights", str(folder_run.checkpoint),
         "--frames", "10", "--threads", "1", "--device", "cpu"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    m = re.search(r"verdict: (FAKE|UNCERTAIN|NO SIGN FOUND)\. .*\n  fake score: ([0-9<>]+)%  \(FAKE at or above ([0-9<>]+)%",
                  proc.stdout)
    assert m, proc.stdout
    assert m.group(3) + "%" == percent(ck.threshold)  # the fine-tuned checkpoint's own threshold
    assert "frames: 10 analysed" in proc.stdout


def test_list_models_lists_unindexed_checkpoints_after_the_indexed_ones(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ResNeXtLSTM(TINY)
    for name in ("shipped_b", "shipped_a", "custom", "another"):
        save_checkpoint(tmp_path / f"{name}.pt", model, TINY_NAME, PreprocessConfig(input_size=32))
    (tmp_path / "notes.txt").write_text("not a model\n")
    write_index(tmp_path, ["shipped_b", "shipped_a"], "test")
    assert set(read_manifest(tmp_path / "SHA256SUMS")) == {f"{n}.pt" for n in ("shipped_b", "shipped_a", "custom",
                                                                                "another")}

    entries = list_models(tmp_path)
    assert [m.name for m in entries] == ["shipped_b", "shipped_a", "another", "custom"]
    assert [m.default for m in entries] == [True, False, False, False]
    assert all(m.path == tmp_path / f"{m.name}.pt" for m in entries)
    assert resolve_model("custom", tmp_path).path == tmp_path / "custom.pt"
    load_checkpoint(resolve_model("custom", tmp_path).path)
