"""The installed models: which checkpoints ship, which one is the default, and their cards.

``weights/`` holds one checkpoint per model (``NAME.pt``, listed in ``SHA256SUMS``)
and beside each its measured card (``NAME.card.json``, ``NAME.card.md``), written
by ``make evaluate``. ``weights/models.json`` lists the models, default first,
and says why that one is the default; it is written by ``make evaluate`` from the
cards' own numbers (:func:`dfcore.evaluation.card.choose_default`), never by hand.

A checkpoint trained on the user's own data into ``weights/`` is listed after the shipped ones.

Only models that work are offered. A model whose card has a ``"withdrawn"`` string (the reason, e.g.
"On a hidden set of clips ... a coin flip") is withdrawn: it is not listed, analysis refuses its name
(:class:`~dfcore.errors.WithdrawnModelError`, naming the reason), yet its checkpoint and card stay, so
the dashboard can show the card with its reason and training can still start from it.
``$DFCORE_WEIGHTS`` (one checkpoint file) replaces the whole list with that one
model: a retrained or fine-tuned file is used without touching ``weights/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import MANIFEST_NAME, read_manifest
from ..errors import NoWeightsInstalledError, UnknownModelError, WeightsError, WithdrawnModelError

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"  # the project's committed weights
INDEX_NAME = "models.json"  # the model list, default first, written by `make evaluate`
CARD_SUFFIX = ".card.json"  # NAME.card.json beside NAME.pt
CARD_MD_SUFFIX = ".card.md"  # its Markdown rendering
WITHDRAWN_KEY = "withdrawn"  # a card's key holding why the model is withdrawn (absent or empty: offered)


@dataclass(frozen=True)
class ModelEntry:
    name: str  # what --model and the dashboard's selector call it: the checkpoint's file stem
    path: Path  # the checkpoint file
    default: bool  # the model used when none is named (never a withdrawn one)
    withdrawn: str | None = None  # why the model is withdrawn (its card's "withdrawn"); None: it is offered

    @property
    def card_path(self) -> Path:
        """The model's card JSON (it may not exist yet: ``make evaluate`` writes it)."""
        return card_path_for(self.path)


def card_path_for(checkpoint: str | os.PathLike) -> Path:
    """``weights/NAME.pt`` -> ``weights/NAME.card.json``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + CARD_SUFFIX)


def list_models(weights_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """The models offered for analysis, the default first (withdrawn ones left out: see :func:`withdrawn_models`).

    Args:
        weights_dir: the folder to read; None: ``$DFCORE_WEIGHTS`` when set (that one file), else ``weights/``.

    Returns:
        One :class:`ModelEntry` per offered model; empty when none is installed.

    Raises:
        WeightsError: ``models.json`` exists but is not a valid model list.
    """
    return [m for m in _installed(weights_dir) if m.withdrawn is None]


def withdrawn_models(weights_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """The installed models whose card withdraws them, each with its reason (``entry.withdrawn``).

    They are not offered for analysis, but their cards stay readable (:func:`read_card`).

    Raises:
        WeightsError: ``models.json`` exists but is not a valid model list.
    """
    return [m for m in _installed(weights_dir) if m.withdrawn is not None]


def _installed(weights_dir: str | os.PathLike | None) -> list[ModelEntry]:
    """Every installed model, offered or withdrawn, in the index's order; the first offered one is the default."""
    env = os.environ.get("DFCORE_WEIGHTS")
    if weights_dir is None and env:
        # One file chosen by hand, like --weights: used whatever its card says.
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
    entries, default_taken = [], False
    for n in names:
        path = folder / f"{n}.pt"
        why = withdrawn_reason(path)
        entries.append(ModelEntry(n, path, why is None and not default_taken, why))
        default_taken = default_taken or why is None
    return entries


def withdrawn_reason(checkpoint: str | os.PathLike) -> str | None:
    """Why the checkpoint's model is withdrawn, as its card says; None when it is offered.

    A card that cannot be read withdraws nothing here: :func:`read_card` reports it where the card is shown.
    """
    try:
        card = json.loads(card_path_for(checkpoint).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    why = card.get(WITHDRAWN_KEY) if isinstance(card, dict) else None
    return why.strip() if isinstance(why, str) and why.strip() else None


def model_names(weights_dir: str | os.PathLike | None = None) -> list[str]:
    """The offered models' names, the default first."""
    return [m.name for m in list_models(weights_dir)]


def resolve_model(name: str | None = None, weights_dir: str | os.PathLike | None = None, *,
                  offered_only: bool = False) -> ModelEntry:
    """The entry for ``name`` (None: the default model).

    Args:
        name: an installed model's name; None: the default (always an offered model).
        weights_dir: the folder to read (see :func:`list_models`).
        offered_only: refuse a withdrawn model. Analysis passes True (:func:`resolve_offered`); False
            still finds one, for what may use it: training from its checkpoint, showing its card.

    Raises:
        NoWeightsInstalledError: no model is offered.
        WithdrawnModelError: ``offered_only`` and the model is withdrawn (the message gives its card's reason).
        UnknownModelError: no installed model has that name (the message lists the offered ones).
    """
    installed = _installed(weights_dir)
    models = [m for m in installed if m.withdrawn is None]
    if not models:
        folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
        raise NoWeightsInstalledError(
            folder, "no trained weights are installed",
            "Train them with `make train`, or pass a checkpoint with --weights. "
            "dfcore never presents an untrained model as a detector.",
        )
    if name is None:
        return models[0]
    offered = f"Installed models: {', '.join(m.name for m in models)}."
    for m in installed:
        if m.name == name:
            if m.withdrawn is not None and offered_only:
                raise WithdrawnModelError(None, f"{m.name} is withdrawn: {m.withdrawn.rstrip('.')}",
                                          f"Offered models: {', '.join(x.name for x in models)}.")
            return m
    raise UnknownModelError(None, f"unknown model {name!r}", offered)


def resolve_offered(name: str | None = None, weights_dir: str | os.PathLike | None = None) -> ModelEntry:
    """:func:`resolve_model` for analysis: a withdrawn model's name is refused with its reason.

    Raises:
        NoWeightsInstalledError, UnknownModelError, WithdrawnModelError: as :func:`resolve_model`.
    """
    return resolve_model(name, weights_dir, offered_only=True)


def describe_models(weights_dir: str | os.PathLike | None = None) -> dict:
    """The models with their cards: ``models --json`` and the API's ``GET /v1/models``.

    Returns:
        ``{"models": [...], "withdrawn": [...]}``: the offered models, the default first, each
        ``{"name", "default", "file", "card"}``; then the withdrawn ones, each ``{"name", "file",
        "withdrawn" (the reason), "card"}``, so that their cards can still be shown.

    Raises:
        WeightsError: the model list or a card exists but cannot be read.
    """
    installed = _installed(weights_dir)
    return {
        "models": [{"name": m.name, "default": m.default, "file": str(m.path), "card": read_card(m)}
                   for m in installed if m.withdrawn is None],
        "withdrawn": [{"name": m.name, "file": str(m.path), "withdrawn": m.withdrawn, "card": read_card(m)}
                      for m in installed if m.withdrawn is not None],
    }


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
    """Write ``models.json``: the models offered, in order, the first is the default, and why.

    Leave withdrawn models out of ``names``; one listed anyway is still not offered (its card withdraws it).
    """
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
