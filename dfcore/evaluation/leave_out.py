"""Leave-one-out checks: a run that never saw one kind of fake, scored on that kind against reals it never saw.

``python -m dfcore.evaluation.leave_out --data ../shared/data weights/loo/NAME.pt ...`` reads which fakes each
checkpoint left out (its training record), rebuilds the split it was trained with, and scores every clip of
those fakes (train, calibration and test alike: the run saw none of them) against the real clips of the same
dataset's calibration and test splits, through the full pipeline. It prints one line per checkpoint, with the
AUC's 95% bootstrap interval, and writes the reports as JSON. This is the validation that predicts how the
recipe meets a method or a generator nobody trained it on, the case users meet every day.

``--kinds SOURCE,...`` scores a run on kinds it never trained on without leaving them out by name: a teacher
whose recipe drew no talking-head clip at all (and that started from no run that did) has never seen any
talking-head fake, so each kind is scored as if it had been left out, one report per kind. A kind the record
cannot vouch for is refused.

``--baseline EARLIER.json`` compares each checkpoint with the earlier report's run that left the same kind out:
the change in AUC over the clips both scored, with a paired bootstrap interval (a variant of a recipe, judged
against the recipe on the same clips).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from ..errors import DfcoreError
from ..models.detector import Detector, load_detector
from ..training.sources.items import LabelledItem
from ..training.sources.splits import left_out_source, make_splits, trained_data_config
from .evaluate import evaluate
from .metrics import auc_change_interval, roc_auc

# Which splits hold a source's clips: the source name's first part, to the splits' prefix.
SPLIT_PREFIX = {"ffpp": "ffpp", "talking_heads": "th"}
FRAMES = 20  # the dashboard's default frame count


class NothingLeftOutError(DfcoreError):
    """The checkpoint's training record names no fakes left out: there is nothing to score it on."""


class KindSeenError(DfcoreError):
    """The checkpoint's training record does not show that it never saw a kind of fake it is to be scored on."""


def left_out_items(splits: dict[str, list[LabelledItem]], sources: Sequence[str]) -> list[LabelledItem]:
    """Every fake clip of ``sources`` (all splits), then the real clips of their datasets' calibration and test
    splits, reals first.

    Raises:
        ValueError: a source belongs to no dataset with clip splits (``ffpp/...`` or ``talking_heads/...``).
    """
    prefixes = set()
    for source in sources:
        dataset = source.split("/")[0]
        if dataset not in SPLIT_PREFIX:
            raise ValueError(f"{source}: not a source of {', '.join(SPLIT_PREFIX)}")
        prefixes.add(SPLIT_PREFIX[dataset])
    fakes = [it for p in sorted(prefixes) for part in ("train", "calib", "test") for it in splits[f"{p}_{part}"]
             if it.label == 1 and it.source in sources]
    reals = [it for p in sorted(prefixes) for part in ("calib", "test") for it in splits[f"{p}_{part}"]
             if it.label == 0]
    return reals + fakes


def left_out_sources(det: Detector) -> list[str]:
    """The sources of the fakes a checkpoint was trained without (its training record).

    Raises:
        NothingLeftOutError: it left nothing out.
    """
    methods = ((det.checkpoint.info.get("trained_on") or {}).get("excluded_methods")) or []
    if not methods:
        raise NothingLeftOutError(det.checkpoint.path, "its training left no kind of fake out",
                                  "Pass a leave-one-out checkpoint (weights/loo/NAME.pt).")
    return [left_out_source(m) for m in methods]


def never_saw(det: Detector, source: str) -> bool:
    """Whether a checkpoint's training record shows that no fake of ``source`` reached its training: left out by
    name, or (a talking-head kind) a recipe that drew no talking-head clip and started from no other run (a
    warm start or a teacher may have seen them)."""
    info = det.checkpoint.info or {}
    trained_on = info.get("trained_on") or {}
    if source in {left_out_source(m) for m in trained_on.get("excluded_methods") or []}:
        return True
    run = info.get("run_config") or {}
    sizes = trained_on.get("sizes")
    # A recipe that drew no talking-head clip, or a run from before the talking-head split existed (its record
    # of split sizes has none).
    drew_none = run.get("talking_heads_share") == 0 or (bool(sizes) and "th_train" not in sizes)
    return (source.split("/")[0] == "talking_heads" and drew_none and not run.get("init_from")
            and not run.get("teacher") and not trained_on.get("warm_started_from")
            and not trained_on.get("distilled_from"))


def unseen_kinds(det: Detector, kinds: Sequence[str]) -> list[str]:
    """``kinds`` (source names, or FF++ method names), each checked against the checkpoint's training record.

    Raises:
        KindSeenError: the record does not show that the run never saw one of them.
    """
    sources = [left_out_source(k) for k in kinds]
    for source in sources:
        if not never_saw(det, source):
            raise KindSeenError(det.checkpoint.path, f"its training record does not show that it never saw "
                                f"{source}'s fakes", "Score it only on kinds it left out or whose dataset its "
                                "recipe never drew from.")
    return sources


def score_left_out(path: str | Path, data_root: str, frames: int = FRAMES, kinds: Sequence[str] | None = None,
                   detector: Detector | None = None) -> dict:
    """Score one leave-one-out checkpoint on the fakes it never saw against unseen reals.

    Args:
        path: the checkpoint.
        data_root: the folder holding the datasets.
        frames: frames per clip.
        kinds: score on these kinds instead of those its record left out (each checked by :func:`unseen_kinds`).
        detector: the checkpoint already loaded (a run scored on several kinds loads once).

    Returns:
        ``{"checkpoint", "sha256", "left_out", "frames", "n_reals", "n_fakes", "auc", "auc_ci_low",
        "auc_ci_high", "frame_auc", "report"}`` (``report``: :func:`~dfcore.evaluation.evaluate.evaluate`'s).

    Raises:
        NothingLeftOutError: the checkpoint left nothing out (and no ``kinds`` were given).
        KindSeenError: a kind of ``kinds`` may have been seen in training.
        WeightsError: the checkpoint cannot be loaded.
        DatasetError: the data folders do not have the expected layout.
    """
    det = detector or load_detector(path)
    sources = unseen_kinds(det, kinds) if kinds else left_out_sources(det)
    items = left_out_items(make_splits(trained_data_config(det.checkpoint.info, data_root)), sources)
    report = evaluate(items, (frames,), det)
    m = report["by_frames"][str(frames)]
    return {"checkpoint": str(path), "sha256": det.sha256, "left_out": sources, "frames": frames,
            "n_reals": sum(1 - it.label for it in items), "n_fakes": sum(it.label for it in items),
            "auc": m["auc"], "auc_ci_low": m.get("auc_ci_low"), "auc_ci_high": m.get("auc_ci_high"),
            "frame_auc": m.get("frame_auc"), "report": report}


def paired_change(result: dict, baseline: Sequence[dict]) -> dict | None:
    """The change in AUC from the baseline run that left out the same sources, on the clips both scored.

    Args:
        result: one of :func:`score_left_out`'s results.
        baseline: an earlier report's results (the JSON this module writes).

    Returns:
        ``{"baseline", "n_clips", "auc_before", "auc_after", "change", "change_ci"}``, or None when no baseline
        run left out the same sources, at the same frame count, or the shared clips lack a class.
    """
    frames = str(result["frames"])
    match = next((b for b in baseline if sorted(b["left_out"]) == sorted(result["left_out"])
                  and str(b["frames"]) == frames), None)
    if match is None:
        return None

    def scores(r: dict) -> dict[str, tuple[int, float]]:
        return {v["path"]: (int(v["label"] == "fake"), v["scores"][frames]) for v in r["report"]["videos"]
                if v.get("scores", {}).get(frames) is not None}

    before, after = scores(match), scores(result)
    shared = sorted(set(before) & set(after))
    labels = [after[k][0] for k in shared]
    if len(set(labels)) < 2:
        return None
    change, low, high = auc_change_interval(labels, [before[k][1] for k in shared], [after[k][1] for k in shared])
    return {"baseline": match["checkpoint"], "n_clips": len(shared),
            "auc_before": roc_auc(labels, [before[k][1] for k in shared]),
            "auc_after": roc_auc(labels, [after[k][1] for k in shared]), "change": change, "change_ci": [low, high]}


def _line(r: dict) -> str:
    iv = "" if r["auc_ci_low"] is None else f" ({r['auc_ci_low']:.2f}–{r['auc_ci_high']:.2f})"
    return (f"{Path(r['checkpoint']).stem}: {', '.join(r['left_out'])} never seen: AUC {r['auc']:.3f}{iv} at "
            f"{r['frames']} frames, {r['n_fakes']} fakes against {r['n_reals']} unseen reals")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.evaluation.leave_out", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", type=Path, help="leave-one-out checkpoints (weights/loo/NAME.pt)")
    p.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/ and talking_heads/")
    p.add_argument("--frames", type=int, default=FRAMES, help=f"frames per clip (default {FRAMES})")
    p.add_argument("--out", type=Path, default=Path("runs/leave_out.json"), help="where the reports go")
    p.add_argument("--kinds", help="comma-separated kinds of fake (e.g. talking_heads/AniTalker,FaceSwap) to score "
                   "each checkpoint on, one report per kind, instead of those it left out; refused for a kind its "
                   "training record does not show it never saw")
    p.add_argument("--baseline", type=Path, help="an earlier report of this command: each checkpoint is compared "
                   "with its run that left the same kind out, on the clips both scored")
    args = p.parse_args(argv)
    try:
        baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    except (OSError, ValueError) as e:
        print(f"error: --baseline {args.baseline}: cannot be read as a report of this command ({e})", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    jobs = []  # (checkpoint, kinds to score it on or None for those it left out, its detector if loaded already)
    try:
        for path in args.checkpoints:
            if kinds is None:
                jobs.append((path, None, None))
                continue
            det = load_detector(path)
            unseen_kinds(det, kinds)  # refuse before anything is scored
            jobs += [(path, [kind], det) for kind in kinds]
    except DfcoreError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    results = []
    for path, job_kinds, det in jobs:
        try:
            results.append(score_left_out(path, args.data, args.frames, job_kinds, det))
        except DfcoreError as e:  # a wrong checkpoint or missing data: say which, stop before writing anything
            print(f"error: {e.message}", file=sys.stderr)
            return 2
        print(_line(results[-1]), flush=True)
        if baseline is not None:
            change = results[-1]["change_vs_baseline"] = paired_change(results[-1], baseline)
            print("  " + (f"against {Path(change['baseline']).name} on the same {change['n_clips']} clips: "
                          f"{change['auc_before']:.3f} -> {change['auc_after']:.3f}, change {change['change']:+.3f} "
                          f"({change['change_ci'][0]:+.3f} to {change['change_ci'][1]:+.3f})" if change else
                          "no run in the baseline left out the same kind at this frame count"), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"reports: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
