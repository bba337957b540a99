"""The installed models: which checkpoints ship, which one is the default, and their cards.

``weights/`` holds one checkpoint per model (``NAME.pt``, listed in ``SHA256SUMS``)
and beside each its measured card (``NAME.card.json``, ``NAME.card.md``), written
by ``make evaluate``. ``weights/models.json`` lists the models, default first,
and says why that one is the default; it is written by ``make evaluate`` from the
cards' own numbers (:func:`dfcore.evaluation.card.choose_default`), never by hand.

A checkpoint trained on the user's own data into ``weights/`` is listed after the shipped ones.
``$DFCORE_WEIGHTS`` (one checkpoint file) replaces the whole list with that one
model: a retrained or fine-tuned file is used without touching ``weights/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import MANIFEST_NAME, read_manifest
from ..errors import NoWeightsInstalledError, UnknownModelError, WeightsError

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"  # the project's committed weights
INDEX_NAME = "models.json"  # the model list, default first, written by `make evaluate`
CARD_SUFFIX = ".card.json"  # NAME.card.json beside NAME.pt
CARD_MD_SUFFIX = ".card.md"  # its Markdown rendering


@dataclass(frozen=True)
class ModelEntry:
    name: str  # what --model and the dashboard's selector call it: the checkpoint's file stem
    path: Path  # the checkpoint file
    default: bool  # the model used when none is named

    @property
    def card_path(self) -> Path:
        """The model's card JSON (it may not exist yet: ``make evaluate`` writes it)."""
        return card_path_for(self.path)


def card_path_for(checkpoint: str | os.PathLike) -> Path:
    """``weights/NAME.pt`` -> ``weights/NAME.card.json``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + CARD_SUFFIX)


def list_models(weights_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """The installed models, the default first.

    Args:
        weights_dir: the folder to read; None: ``$DFCORE_WEIGHTS`` when set (that one file), else ``weights/``.

    Returns:
        One :class:`ModelEntry` per model; empty when none is installed.

    Raises:
        WeightsError: ``models.json`` exists but is not a valid model list.
    """
    env = os.environ.get("DFCORE_WEIGHTS")
    if weights_dir is None and env:
        p = Path(env)
        return [ModelEntry(p.stem, p, True)]
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    index = folder / INDEX_NAME
    listed = sorted(Path(n).stem for n in read_manifest(folder / MANIFEST_NAME) if n.endswith(".pt"))
    if index.is_file():
        # The index orders the shipped models; a model trained here since (`dfcore train --dataset ...
        # --out weights/NAME.pt`) is in the manifest too, and follows them by name.
        names = _read_index(index)
        names += [n for n in listed if n not in names]
    else:  # no index yet (e.g. before the first `make evaluate`): every listed checkpoint, by name
        names = listed
    return [ModelEntry(n, folder / f"{n}.pt", i == 0) for i, n in enumerate(names)]


def model_names(weights_dir: str | os.PathLike | None = None) -> list[str]:
    """The installed models' names, the default first."""
    return [m.name for m in list_models(weights_dir)]


def resolve_model(name: str | None = None, weights_dir: str | os.PathLike | None = None) -> ModelEntry:
    """The entry for ``name`` (None: the default model).

    Raises:
        NoWeightsInstalledError: no model is installed.
        UnknownModelError: no installed model has that name (the message lists those that do).
    """
    models = list_models(weights_dir)
    if not models:
        folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
        raise NoWeightsInstalledError(
            folder, "no trained weights are installed",
            "Train them with `make train`, or pass a checkpoint with --weights. "
            "dfcore never presents an untrained model as a detector.",
        )
    if name is None:
        return models[0]
    for m in models:
        if m.name == name:
            return m
    raise UnknownModelError(None, f"unknown model {name!r}",
                            f"Installed models: {', '.join(m.name for m in models)}.")


def describe_models(weights_dir: str | os.PathLike | None = None) -> list[dict]:
    """Each installed model with its card, the default first: ``models --json`` and the API's ``GET /v1/models``.

    Raises:
        WeightsError: the model list or a card exists but cannot be read.
    """
    return [{"name": m.name, "default": m.default, "file": str(m.path), "card": read_card(m)}
            for m in list_models(weights_dir)]


def read_card(entry: ModelEntry) -> dict | None:
    """The model's card as a dict; None when it has none yet.

    Raises:
        WeightsError: the card file exists but is not a JSON object.
    """
    path = entry.card_path
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(path, f"the model card could not be read ({e})", "Rebuild it with `make evaluate`.") from None
    if not isinstance(card, dict):
        raise WeightsError(path, "the model card is not a JSON object", "Rebuild it with `make evaluate`.")
    return card


def write_index(weights_dir: str | os.PathLike, names: list[str], why: str) -> Path:
    """Write ``models.json``: the models in order, the first is the default, and why."""
    path = Path(weights_dir) / INDEX_NAME
    path.write_text(json.dumps({"models": names, "default": names[0], "why_default": why}, indent=2) + "\n")
    return path


def read_index(weights_dir: str | os.PathLike | None = None) -> dict:
    """``models.json`` as written by :func:`write_index` ({} when there is none)."""
    path = (Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR) / INDEX_NAME
    if not path.is_file():
        return {}
    _read_index(path)  # validates
    return json.loads(path.read_text())


def _read_index(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = [str(n) for n in data["models"]]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise WeightsError(path, f"is not a valid model list ({type(e).__name__})",
                           "Rebuild it with `make evaluate`.") from None
    if not names or len(set(names)) != len(names):
        raise WeightsError(path, "lists no models, or one twice", "Rebuild it with `make evaluate`.")
    return names
