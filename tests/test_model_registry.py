"""dfcore.models.model_registry: which models are installed, which is the default, their cards; and the CLI over it.

Every weights folder here is made in a temporary directory from UNTRAINED tiny
checkpoints (or from a hand-written manifest): the tests are about names,
order, files and errors, never about what a model detects.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import dfcore.models.model_registry as registry
from dfcore.models.checkpoint import MANIFEST_NAME, save_checkpoint, sha256_file
from dfcore.cli import EXIT_INPUT_ERROR, main
from dfcore.errors import NoWeightsInstalledError, UnknownModelError, WeightsError, WithdrawnModelError
from dfcore.models.model import create_model
from dfcore.models.model_registry import (
    INDEX_NAME,
    ModelEntry,
    card_path_for,
    describe_models,
    list_models,
    model_names,
    read_card,
    read_index,
    resolve_model,
    resolve_offered,
    withdrawn_models,
    withdrawn_reason,
    write_index,
)
from dfcore.vision.preprocessing import PreprocessConfig

TINY = {"stem_width": 8, "stage_planes": (4, 8, 8, 8), "stage_blocks": (1, 1, 1, 1), "cardinality": 4,
        "lstm_hidden": 8}


@pytest.fixture(autouse=True)
def no_env_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test decides about $DFCORE_WEIGHTS itself."""
    monkeypatch.delenv("DFCORE_WEIGHTS", raising=False)


def _manifest(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_NAME).write_text("".join(f"{'0' * 64}  {n}\n" for n in names))


def _save(folder: Path, name: str, seed: int) -> Path:
    torch.manual_seed(seed)
    path = folder / f"{name}.pt"
    save_checkpoint(path, create_model("resnext_compact_lstm", **TINY).eval(), "resnext_compact_lstm",
                    PreprocessConfig())
    return path


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two untrained checkpoints, ``zeta`` the default by models.json, ``alpha`` with a card."""
    folder = tmp_path_factory.mktemp("weights")
    _save(folder, "alpha", seed=1)
    _save(folder, "zeta", seed=2)
    write_index(folder, ["zeta", "alpha"], "chosen by the test")
    card_path_for(folder / "alpha.pt").write_text(json.dumps({"name": "alpha", "metrics": {}}))
    return folder


# --------------------------------------------------------------------------- listing


def test_list_models_from_the_index_default_first(weights_dir: Path) -> None:
    models = list_models(weights_dir)
    assert models == [ModelEntry("zeta", weights_dir / "zeta.pt", True),
                      ModelEntry("alpha", weights_dir / "alpha.pt", False)]
    assert model_names(weights_dir) == ["zeta", "alpha"]
    assert models[1].card_path == weights_dir / "alpha.card.json"


def test_list_models_from_the_manifest_without_an_index(tmp_path: Path) -> None:
    _manifest(tmp_path, ["b_model.pt", "a_model.pt", "notes.txt"])  # only checkpoints are models
    models = list_models(tmp_path)
    assert [(m.name, m.default) for m in models] == [("a_model", True), ("b_model", False)]  # by name
    assert models[0].path == tmp_path / "a_model.pt"


def test_list_models_empty_folder(tmp_path: Path) -> None:
    assert list_models(tmp_path) == []
    with pytest.raises(NoWeightsInstalledError, match="no trained weights are installed") as e:
        resolve_model(None, tmp_path)
    assert str(tmp_path) in e.value.message


def test_the_project_weights_folder_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _manifest(tmp_path, ["only.pt"])
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert [m.name for m in list_models()] == ["only"]
    assert read_index() == {}


def test_env_weights_replace_the_list(weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", weights_dir)
    monkeypatch.setenv("DFCORE_WEIGHTS", str(tmp_path / "retrained.pt"))
    assert list_models() == [ModelEntry("retrained", tmp_path / "retrained.pt", True)]
    assert resolve_model(None).path == tmp_path / "retrained.pt"
    with pytest.raises(UnknownModelError):
        resolve_model("zeta")  # the folder's models are not listed while the override is set
    # An explicit folder is read as it is, override or not.
    assert model_names(weights_dir) == ["zeta", "alpha"]


@pytest.mark.parametrize("content", ["not json", json.dumps({"default": "x"}), json.dumps({"models": []}),
                                     json.dumps({"models": ["a", "a"]}), json.dumps([1, 2])])
def test_invalid_index_is_a_weights_error(tmp_path: Path, content: str) -> None:
    (tmp_path / INDEX_NAME).write_text(content)
    with pytest.raises(WeightsError, match="Rebuild it with `make evaluate`") as e:
        list_models(tmp_path)
    assert INDEX_NAME in e.value.message
    with pytest.raises(WeightsError):
        read_index(tmp_path)


# --------------------------------------------------------------------------- resolving


def test_resolve_model(weights_dir: Path) -> None:
    assert resolve_model(None, weights_dir).name == "zeta"
    assert resolve_model("alpha", weights_dir) == ModelEntry("alpha", weights_dir / "alpha.pt", False)


def test_resolve_unknown_model_lists_the_installed_ones(weights_dir: Path) -> None:
    with pytest.raises(UnknownModelError) as e:
        resolve_model("omega", weights_dir)
    assert "unknown model 'omega'" in e.value.message
    assert "Installed models: zeta, alpha." in e.value.message


# --------------------------------------------------------------------------- cards and the index


def test_read_card(weights_dir: Path, tmp_path: Path) -> None:
    alpha, zeta = resolve_model("alpha", weights_dir), resolve_model("zeta", weights_dir)
    assert read_card(alpha) == {"name": "alpha", "metrics": {}}
    assert read_card(zeta) is None  # no card yet
    assert card_path_for(tmp_path / "m.pt") == tmp_path / "m.card.json"
    broken = ModelEntry("m", tmp_path / "m.pt", True)
    broken.card_path.write_text("{not json")
    with pytest.raises(WeightsError, match="could not be read") as e:
        read_card(broken)
    assert "m.card.json" in e.value.message
    broken.card_path.write_text(json.dumps(["a", "list"]))
    with pytest.raises(WeightsError, match="not a JSON object"):
        read_card(broken)
    broken.card_path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(WeightsError):
        read_card(broken)


def test_write_and_read_index_round_trip(tmp_path: Path) -> None:
    path = write_index(tmp_path, ["b", "a", "c"], "b is within 0.02 of a and faster")
    assert path == tmp_path / INDEX_NAME
    assert read_index(tmp_path) == {"models": ["b", "a", "c"], "default": "b",
                                    "why_default": "b is within 0.02 of a and faster"}
    assert [(m.name, m.default) for m in list_models(tmp_path)] == [("b", True), ("a", False), ("c", False)]
    assert read_index(tmp_path / "elsewhere") == {}


def test_describe_models(weights_dir: Path) -> None:
    described = describe_models(weights_dir)
    assert set(described) == {"models", "withdrawn"} and described["withdrawn"] == []
    offered = described["models"]
    assert [(d["name"], d["default"]) for d in offered] == [("zeta", True), ("alpha", False)]
    assert offered[0]["file"] == str(weights_dir / "zeta.pt") and offered[0]["card"] is None
    assert offered[1]["card"] == {"name": "alpha", "metrics": {}}
    json.dumps(described)


# --------------------------------------------------------------------------- withdrawn models

WHY = "On a hidden set it scored AUCs of 0.51-0.64, a coin flip."


@pytest.fixture()
def with_withdrawn(tmp_path: Path) -> Path:
    """Three models: ``gone`` (first in the index, withdrawn by its card), ``kept`` (with a card), ``plain``."""
    _manifest(tmp_path, ["gone.pt", "kept.pt", "plain.pt"])
    write_index(tmp_path, ["gone", "kept", "plain"], "chosen by the test")
    card_path_for(tmp_path / "gone.pt").write_text(json.dumps({"name": "gone", "withdrawn": WHY}))
    card_path_for(tmp_path / "kept.pt").write_text(json.dumps({"name": "kept", "withdrawn": ""}))  # empty: offered
    return tmp_path


def test_a_withdrawn_model_is_not_offered(with_withdrawn: Path) -> None:
    d = with_withdrawn
    # Not listed; the default passes to the first offered model.
    assert list_models(d) == [ModelEntry("kept", d / "kept.pt", True), ModelEntry("plain", d / "plain.pt", False)]
    assert model_names(d) == ["kept", "plain"]
    assert withdrawn_models(d) == [ModelEntry("gone", d / "gone.pt", False, WHY)]
    assert withdrawn_reason(d / "gone.pt") == WHY and withdrawn_reason(d / "kept.pt") is None
    assert withdrawn_reason(d / "plain.pt") is None  # no card at all
    assert resolve_model(None, d).name == "kept" and resolve_offered(None, d).name == "kept"


def test_resolving_a_withdrawn_model(with_withdrawn: Path) -> None:
    d = with_withdrawn
    with pytest.raises(WithdrawnModelError) as e:
        resolve_offered("gone", d)
    assert e.value.message == (f"gone is withdrawn: {WHY[:-1]}. Offered models: kept, plain.")
    assert isinstance(e.value, UnknownModelError)  # callers that refuse unknown names refuse it too
    # Without offered_only it is found (training may start from it; its card is shown), reason attached.
    entry = resolve_model("gone", d)
    assert entry.withdrawn == WHY and not entry.default
    assert read_card(entry) == {"name": "gone", "withdrawn": WHY}
    with pytest.raises(UnknownModelError, match="unknown model 'omega'"):
        resolve_offered("omega", d)


def test_describe_models_keeps_the_withdrawn_cards_apart(with_withdrawn: Path) -> None:
    described = describe_models(with_withdrawn)
    assert [m["name"] for m in described["models"]] == ["kept", "plain"]
    assert described["withdrawn"] == [{"name": "gone", "file": str(with_withdrawn / "gone.pt"), "withdrawn": WHY,
                                       "card": {"name": "gone", "withdrawn": WHY}}]


def test_every_model_withdrawn_means_none_installed(tmp_path: Path) -> None:
    _manifest(tmp_path, ["gone.pt"])
    card_path_for(tmp_path / "gone.pt").write_text(json.dumps({"withdrawn": WHY}))
    assert list_models(tmp_path) == []
    with pytest.raises(NoWeightsInstalledError):
        resolve_offered(None, tmp_path)


def test_an_unreadable_card_withdraws_nothing(tmp_path: Path) -> None:
    _manifest(tmp_path, ["m.pt"])
    card_path_for(tmp_path / "m.pt").write_text("{broken")
    assert model_names(tmp_path) == ["m"]  # listed; the card's own error shows where the card is read
    with pytest.raises(WeightsError):
        describe_models(tmp_path)


def test_the_committed_resnext_lstm_is_withdrawn() -> None:
    """The shipped student scored a coin flip on clips from other sources: its card withdraws it."""
    assert "resnext_lstm" not in model_names(registry.WEIGHTS_DIR)
    assert "resnext_lstm" not in read_index(registry.WEIGHTS_DIR)["models"]
    (gone,) = [m for m in withdrawn_models(registry.WEIGHTS_DIR) if m.name == "resnext_lstm"]
    assert "coin flip" in gone.withdrawn
    with pytest.raises(WithdrawnModelError, match="resnext_lstm is withdrawn: On a hidden set"):
        resolve_offered("resnext_lstm", registry.WEIGHTS_DIR)


# --------------------------------------------------------------------------- the command line


def test_cli_models(weights_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", weights_dir)
    assert main(["models"]) == 0
    assert capsys.readouterr().out.splitlines() == ["zeta", "alpha"]
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == describe_models(weights_dir)


def test_cli_models_all_and_json_show_the_withdrawn(with_withdrawn: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", with_withdrawn)
    assert main(["models"]) == 0
    assert capsys.readouterr().out.splitlines() == ["kept", "plain"]
    assert main(["models", "--all"]) == 0
    assert capsys.readouterr().out.splitlines() == ["kept", "plain", f"gone (withdrawn: {WHY})"]
    assert main(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in out["models"]] == ["kept", "plain"]
    assert [(m["name"], m["withdrawn"]) for m in out["withdrawn"]] == [("gone", WHY)]


@pytest.mark.parametrize("command", ["analyze", "batch", "bench"])
def test_cli_refuses_a_withdrawn_model_with_its_reason(with_withdrawn: Path, face_image: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture, command: str) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", with_withdrawn)
    extra = ["--out", str(tmp_path / "out.jsonl")] if command == "batch" else []
    assert main([command, str(face_image), *extra, "--model", "gone", "--device", "cpu"]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines == [f"error: gone is withdrawn: {WHY[:-1]}. Offered models: kept, plain."]
    assert not (tmp_path / "out.jsonl").exists()  # refused before anything was written


def test_cli_models_with_nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert main(["models"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"models": [], "withdrawn": []}


def test_cli_models_bad_index_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    (tmp_path / INDEX_NAME).write_text("{")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert main(["models"]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and INDEX_NAME in lines[0]


@pytest.mark.parametrize("name", [None, "alpha", "zeta"])
def test_analyze_model_picks_that_checkpoint(weights_dir: Path, face_image: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture, name: str | None) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", weights_dir)
    args = ["analyze", str(face_image), "--json", "--device", "cpu"] + (["--model", name] if name else [])
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"]["sha256"] == sha256_file(weights_dir / f"{name or 'zeta'}.pt")


def test_analyze_weights_override_the_model(weights_dir: Path, face_image: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", weights_dir)
    assert main(["analyze", str(face_image), "--json", "--device", "cpu", "--model", "no_such_model",
                 "--weights", str(weights_dir / "alpha.pt")]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["sha256"] == sha256_file(weights_dir / "alpha.pt")


@pytest.mark.parametrize("command", ["analyze", "evaluate"])
def test_unknown_model_exits_2_with_one_line(weights_dir: Path, face_image: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                             command: str) -> None:
    monkeypatch.setattr(registry, "WEIGHTS_DIR", weights_dir)
    csv = tmp_path / "list.csv"
    csv.write_text(f"path,label\n{face_image},real\n")
    target = [str(face_image)] if command == "analyze" else ["--csv", str(csv)]
    assert main([command, *target, "--model", "omega", "--device", "cpu"]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert lines == ["error: unknown model 'omega'. Installed models: zeta, alpha."]
