"""dfcore.models.checkpoint and dfcore.models.detector: checksummed, weights-only checkpoints.

The models saved here are untrained (random weights): the tests are about the
file format and its safety checks, not about detection.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import dfcore.models.detector as detector_mod
import dfcore.models.model_registry as model_registry
from dfcore.models.checkpoint import (
    FORMAT_VERSION,
    LABELS,
    MANIFEST_NAME,
    _update_manifest,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
    sha256_file,
)
from dfcore.models.detector import load_detector
from dfcore.errors import NoWeightsInstalledError, WeightsError
from dfcore.models.model import create_model
from dfcore.vision.preprocessing import PreprocessConfig

NAME = "resnext_compact_lstm"


def _small_model(seed: int = 0):
    torch.manual_seed(seed)
    return create_model(NAME, lstm_hidden=16, stage_planes=(8, 8, 16, 16)).eval()


def _save(path: Path, **kwargs) -> str:
    return save_checkpoint(path, _small_model(), NAME, PreprocessConfig(), **kwargs)


def _crops(t: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, t, 3, 112, 112, generator=torch.Generator().manual_seed(seed))


def test_round_trip(tmp_path: Path) -> None:
    model = _small_model(seed=3)
    pre = PreprocessConfig(input_size=112, margin=0.4, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    info = {"data": "synthetic", "metrics": {"auc": 0.5}}
    path = tmp_path / "weights" / "m.pt"  # the folder is created
    digest = save_checkpoint(path, model, NAME, pre, threshold=0.37, temperature=1.7, bias=-0.4, frame_temperature=2.5,
                             info=info)
    assert digest == sha256_file(path)
    assert read_manifest(path.parent / MANIFEST_NAME) == {"m.pt": digest}
    assert not list(path.parent.glob("*.tmp"))

    ck = load_checkpoint(path)
    assert ck.model_name == NAME
    assert ck.model.config == model.config
    assert ck.preprocess == pre
    assert ck.threshold == pytest.approx(0.37)
    assert ck.temperature == pytest.approx(1.7)
    assert ck.bias == pytest.approx(-0.4)
    assert ck.frame_temperature == pytest.approx(2.5)
    assert ck.info == info
    assert ck.sha256 == digest
    assert not ck.model.training  # loaded in eval mode
    x = _crops()
    with torch.no_grad():
        for a, b in zip(model(x), ck.model(x)):
            assert torch.equal(a, b)


def test_a_detector_is_named_by_its_file_not_only_its_architecture(tmp_path: Path) -> None:
    # Two installed models can share an architecture (lite0_lstm_th is lite0_lstm's network): the name users
    # choose a model by is its file's.
    _save(tmp_path / "my_model_v2.pt")
    det = load_detector(tmp_path / "my_model_v2.pt", device="cpu", runtime="torch")
    assert det.name == NAME and det.installed_name == "my_model_v2"


def test_manifest_keeps_other_entries(tmp_path: Path) -> None:
    d1 = _save(tmp_path / "a.pt")
    d2 = save_checkpoint(tmp_path / "b.pt", _small_model(seed=1), NAME, PreprocessConfig())
    assert d1 != d2
    assert read_manifest(tmp_path / MANIFEST_NAME) == {"a.pt": d1, "b.pt": d2}
    # sha256sum's format: "<hash>  <name>" per line.
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert lines == [f"{d1}  a.pt", f"{d2}  b.pt"]
    load_checkpoint(tmp_path / "a.pt")
    load_checkpoint(tmp_path / "b.pt")


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256") as e:
        load_checkpoint(path)
    assert "m.pt" in str(e.value)


def test_file_not_in_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path)
    other = tmp_path / "copy.pt"
    shutil.copy(path, other)
    with pytest.raises(WeightsError, match="not listed") as e:
        load_checkpoint(other)
    assert "copy.pt" in str(e.value)
    # ... unless verification is switched off explicitly.
    assert load_checkpoint(other, verify=False).sha256 == sha256_file(path)


def test_no_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path)
    (tmp_path / MANIFEST_NAME).unlink()
    with pytest.raises(WeightsError, match="not listed"):
        load_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


def _add_to_manifest(path: Path) -> None:
    _update_manifest(path.parent / MANIFEST_NAME, path.name, sha256_file(path))


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3), "epoch": 4}, path)
    _add_to_manifest(path)
    with pytest.raises(WeightsError, match="not a dfcore checkpoint"):
        load_checkpoint(path)


def test_plain_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save(_small_model().state_dict(), path)
    _add_to_manifest(path)
    with pytest.raises(WeightsError):
        load_checkpoint(path)


def test_not_a_torch_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"definitely not a zip archive")
    _add_to_manifest(path)
    with pytest.raises(WeightsError, match="weights-only"):
        load_checkpoint(path)


class Payload:
    """A class object in a pickle: unpickling it would run code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_code_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": FORMAT_VERSION, "labels": list(LABELS), "payload": Payload(str(marker))}, path)
    _add_to_manifest(path)
    with pytest.raises(WeightsError, match="weights-only"):
        load_checkpoint(path)
    assert not marker.exists()


def _rewrite(path: Path, **changes) -> None:
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)
    _add_to_manifest(path)


def test_other_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path)
    _rewrite(path, format_version=FORMAT_VERSION + 1)
    with pytest.raises(WeightsError, match="format"):
        load_checkpoint(path)


def test_other_label_order_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path)
    _rewrite(path, labels=["fake", "real"])
    with pytest.raises(WeightsError, match="label order"):
        load_checkpoint(path)


def test_config_weights_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    _save(path)
    payload = torch.load(path, weights_only=True)
    _rewrite(path, model_config={**payload["model_config"], "lstm_hidden": 24})
    with pytest.raises(WeightsError, match="does not match"):
        load_checkpoint(path)


# --------------------------------------------------------------------------- load_detector


def test_no_weights_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFCORE_WEIGHTS", str(tmp_path / "missing" / "model.pt"))
    with pytest.raises(NoWeightsInstalledError) as e:
        load_detector(device="cpu")
    assert "no trained weights are installed" in str(e.value)
    assert "model.pt" in str(e.value)


def test_default_weights_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without $DFCORE_WEIGHTS the default model comes from the weights folder (dfcore.models.model_registry).
    monkeypatch.delenv("DFCORE_WEIGHTS", raising=False)
    monkeypatch.setattr(model_registry, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(NoWeightsInstalledError):  # an empty folder: no model at all
        detector_mod.default_weights_path()
    with pytest.raises(NoWeightsInstalledError):
        load_detector(device="cpu")
    # Two listed checkpoints and no models.json: the first by name is the default.
    save_checkpoint(tmp_path / "b_model.pt", _small_model(seed=1), NAME, PreprocessConfig())
    save_checkpoint(tmp_path / "a_model.pt", _small_model(seed=2), NAME, PreprocessConfig())
    assert sha256_file(tmp_path / "a_model.pt") != sha256_file(tmp_path / "b_model.pt")
    assert detector_mod.default_weights_path() == tmp_path / "a_model.pt"
    assert load_detector(device="cpu").sha256 == sha256_file(tmp_path / "a_model.pt")
    # models.json names the default; load_detector(model=...) picks another.
    model_registry.write_index(tmp_path, ["b_model", "a_model"], "test")
    assert detector_mod.default_weights_path() == tmp_path / "b_model.pt"
    assert load_detector(device="cpu", model="a_model").sha256 == sha256_file(tmp_path / "a_model.pt")


def test_default_model_listed_but_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DFCORE_WEIGHTS", raising=False)
    monkeypatch.setattr(model_registry, "WEIGHTS_DIR", tmp_path)
    model_registry.write_index(tmp_path, ["gone"], "test")
    with pytest.raises(NoWeightsInstalledError, match="gone.pt"):
        load_detector(device="cpu")


def test_explicit_missing_weights_is_not_no_weights_installed(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found") as e:
        load_detector(tmp_path / "typo.pt", device="cpu")
    assert not isinstance(e.value, NoWeightsInstalledError)


def test_env_weights_are_used(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFCORE_WEIGHTS", str(checkpoint))
    det = load_detector(device="cpu")
    assert det.sha256 == sha256_file(checkpoint)
    assert det.name == NAME


def test_detector_scores_are_calibrated_model_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.pt"
    _save(path, temperature=2.0, bias=0.3, frame_temperature=3.0, threshold=0.6)
    det = load_detector(path, device="cpu")
    assert det.threshold == pytest.approx(0.6)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    scores = det.score(crops)
    from dfcore.vision.preprocessing import to_tensor

    with torch.no_grad():
        clip, frames = det.model(to_tensor(crops, det.preprocess).unsqueeze(0))
    assert scores.clip_logit == pytest.approx(float(clip[0]), abs=1e-5)
    assert scores.clip_probability == pytest.approx(float(torch.sigmoid(clip[0] / 2.0 + 0.3)), abs=1e-6)
    np.testing.assert_allclose(scores.frame_probabilities, torch.sigmoid(frames[0] / 3.0).numpy(), atol=1e-6)
    # Batching the CNN does not change the features.
    monkeypatch.setattr(detector_mod, "BATCH", 2)
    np.testing.assert_allclose(det.score(crops).frame_probabilities, scores.frame_probabilities, atol=1e-6)
