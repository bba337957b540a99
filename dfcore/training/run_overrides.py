"""``--set FIELD=VALUE``: one recipe run changed in one setting, without editing ``RECIPE``.

An ablation of a stage (for example the talking-heads stage with more of its backbone frozen, scored by its own
leave-one-out runs) needs the same runs as the recipe's with a setting changed. Written into a separate weights
folder, the changed runs never replace the shipped checkpoints, and each checkpoint carries the run config it was
trained with, so its card shows the change.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TYPE_CHECKING, Sequence

from ..models.model import STAGES
from ..synth.blend import BlendOptions

if TYPE_CHECKING:  # train imports this module: the config class is only needed for the annotations
    from .recipe import RunConfig

# Settings that name what a run is or where it reads from: changing them is a different run, not a variant.
FIXED_FIELDS = frozenset({"name", "model_name", "init_from", "teacher"})


class OverrideError(ValueError):
    """A ``FIELD=VALUE`` assignment that names no setting or whose value does not parse."""


def parse_assignment(text: str) -> tuple[str, str]:
    """``"lr=5e-5"`` -> ``("lr", "5e-5")``.

    Raises:
        OverrideError: no ``=`` or an empty field name.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise OverrideError(f"--set {text!r}: expected FIELD=VALUE, for example lr=5e-5")
    return key.strip(), value.strip()


def _coerce(name: str, value: str, default: object) -> object:
    """``value`` read as the type of the field's default (tuples: comma-separated strings)."""
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if isinstance(default, tuple):
            parts = [v.strip() for v in value.split(",") if v.strip()]
            # A tuple of numbers (e.g. blend_regions) reads numbers; one of names (frozen_stages) reads names.
            return tuple(float(v) for v in parts) if default and isinstance(default[0], float) else tuple(parts)
        if isinstance(default, (int, float, str)):
            return type(default)(value)
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(type(default), "valid")
        raise OverrideError(f"--set {name}={value}: not {kind}") from None
    raise OverrideError(f"--set {name}: a {type(default).__name__} setting cannot be set from the command line")


def override_run(run: RunConfig, assignments: Sequence[str]) -> RunConfig:
    """``run`` with each ``FIELD=VALUE`` of ``assignments`` applied (values typed like the field's default).

    Args:
        run: a recipe run.
        assignments: e.g. ``["frozen_stages=stem,layer1,layer2,layer3", "lr=5e-5"]``.

    Returns:
        A new RunConfig; ``run`` is unchanged.

    Raises:
        OverrideError: an unknown or fixed field, or a value that does not parse.
    """
    known = {f.name for f in fields(run)}
    changes: dict[str, object] = {}
    for text in assignments:
        key, value = parse_assignment(text)
        if key not in known:
            raise OverrideError(f"--set {key}: no such run setting; choose from {sorted(set(known) - FIXED_FIELDS)}")
        if key in FIXED_FIELDS:
            raise OverrideError(f"--set {key}: names the run itself; pick another run with --runs instead")
        changes[key] = _coerce(key, value, getattr(run, key))
    frozen = changes.get("frozen_stages", ())
    order = ("stem", *STAGES)
    if tuple(frozen) != order[:len(frozen)]:  # checked now, not after minutes of loading faces
        raise OverrideError(f"--set frozen_stages: must be the first stages of {order}, in order; got {frozen}")
    out = replace(run, **changes)
    if not 0.0 <= out.ffpp_share + out.talking_heads_share <= 1.0:  # DFDC gets the rest of each batch
        raise OverrideError(f"--set: ffpp_share + talking_heads_share is {out.ffpp_share + out.talking_heads_share:g}; "
                            "it must be between 0 and 1 (DFDC's share is the rest)")
    try:  # the self-blends' settings, checked as the blends will check them, before any face is loaded
        BlendOptions(region_probs=tuple(out.blend_regions), neural_look_prob=out.neural_look_prob)
    except ValueError as e:
        raise OverrideError(f"--set: {e}") from None
    for key in ("webcam_prob", "codec_prob"):
        if not 0.0 <= getattr(out, key) <= 1.0:
            raise OverrideError(f"--set {key}={getattr(out, key):g}: a chance, between 0 and 1")
    return out
