"""``python -m dfcore``: analyze, evaluate, train, card, models, samples, bench, serve, batch.

Errors the user can act on (bad file, no weights, bad dataset) end the
command with exit status 2 and one line on stderr naming the file and the
problem; a traceback only ever means a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DfcoreError

if TYPE_CHECKING:
    from .analyze import AnalysisResult

EXIT_INPUT_ERROR = 2


def _frames(value: str) -> int:
    from .analyze import MAX_FRAMES, MIN_FRAMES

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not MIN_FRAMES <= n <= MAX_FRAMES:
        raise argparse.ArgumentTypeError(f"must be between {MIN_FRAMES} and {MAX_FRAMES}, got {n}")
    return n


def _seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not s > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {value}")
    return s


def _frame_list(value: str) -> list[int]:
    return [_frames(v) for v in value.split(",") if v.strip()]


def _at_least(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {n}")
        return n
    return parse


_non_negative, _runs = _at_least(0), _at_least(1)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dfcore", description="Deepfake Lens: deepfake video detection.")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="analyse one video or image")
    a.add_argument("video", help="video (mp4, m4v, avi, mov, mkv, webm) or image (jpg, png)")
    a.add_argument("--frames", type=_frames, default=20, help="frames sampled over the whole clip (default 20)")
    a.add_argument("--json", action="store_true", help="print the result as JSON")
    a.add_argument("--explain", action="store_true", help="also compute Grad-CAM maps (timed in the result)")
    a.add_argument("--time-limit", type=_seconds, metavar="SECONDS",
                   help="stop with an error if the analysis (after loading the model) takes longer; default: no limit")
    _common(a)

    e = sub.add_parser("evaluate", help="measure accuracy and speed against the number of frames")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", help="CSV with columns path,label (label real/fake)")
    src.add_argument("--dataset", help="a FaceForensics++, Celeb-DF v2, DFDC, dfdc_faces or real/+fake/ folder")
    e.add_argument("--frames", type=_frame_list, default=[10, 20, 40, 60, 80, 100], help="comma-separated counts")
    e.add_argument("--out", help="write the full report as JSON here")
    e.add_argument("--limit", type=int, help="evaluate only the first N items (quick checks)")
    _common(e)

    t = sub.add_parser("train", help="train the shipped detectors (make train), or fine-tune on your own data "
                                     "(--dataset / --csv)")
    t.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/ and dfdc_faces/")
    own = t.add_argument_group("your own data (any layout dfcore reads; see README: Train on your own data)")
    own.add_argument("--dataset", metavar="PATH", action="append",
                     help="a dataset folder or CSV (repeatable: datasets are mixed)")
    own.add_argument("--csv", metavar="FILE", action="append", help="a CSV with path,label[,identity] columns")
    own.add_argument("--init", metavar="FILE.pt", help="checkpoint to start from (default: the default model)")
    own.add_argument("--from-imagenet", action="store_true", help="start from ImageNet weights instead")
    own.add_argument("--model", metavar="NAME",
                     help="architecture to train (lite0_lstm, resnext_wide_lstm, ...) or an installed model to start from")
    own.add_argument("--steps", type=int, default=300, help="frame-stage steps (default 300)")
    own.add_argument("--clip-steps", type=int, default=150, help="clip-stage steps (default 150)")
    own.add_argument("--val-fraction", type=float, default=0.2, help="share held out for validation (default 0.2)")
    own.add_argument("--frames-per-clip", type=int, default=16, help="training frames per clip (default 16)")
    own.add_argument("--lr", type=float, help="peak learning rate (default 1e-4, or 4e-4 from ImageNet)")
    own.add_argument("--out", metavar="FILE.pt", help="the checkpoint to write (default weights/custom.pt)")
    own.add_argument("--batch", type=int, default=32, help="faces per training step (default 32)")
    own.add_argument("--seed", type=int, default=0, help="seeds the split, the batches and new weights (default 0)")
    own.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    own.add_argument("--frames", type=_frame_list, default=[10, 20, 40, 60, 80, 100],
                     help="frame counts calibrated and reported in the card (comma-separated)")
    t.add_argument("--runs", help="comma-separated runs of the recipe, in order (default: all, as make train)")
    t.add_argument("--step-scale", type=float, help="multiply every step count (quick checks: 0.01)")
    t.add_argument("--weights-dir", help="where checkpoints are written (default weights)")
    t.add_argument("--work-dir", help="resumable state and logs (default runs/train)")
    t.add_argument("--set", metavar="FIELD=VALUE", action="append", dest="settings",
                   help="change one setting of every run (repeatable; an ablation: needs its own --weights-dir "
                        "and --work-dir), e.g. frozen_stages=stem,layer1,layer2,layer3")
    t.add_argument("--extract-only", help="comma-separated splits: only extract their faces into the cache")
    t.add_argument("--recalibrate", action="store_true",
                   help="only calibrate the shipped checkpoints afresh on the calibration split (no training)")
    _verbose_flag(t)

    c = sub.add_parser("card", help="evaluate the models on their test split; write their cards and the model list")
    c.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/ and dfdc_faces/")
    c.add_argument("--weights-dir", default="weights", help="folder of the checkpoints and their cards")
    c.add_argument("--frames", type=_frame_list, default=[10, 20, 40, 60, 80, 100], help="comma-separated counts")
    c.add_argument("--model", metavar="NAME", action="append",
                   help="card only this model (repeatable); default: every shipped model")
    c.add_argument("--threads", type=int, help="torch CPU threads")
    c.add_argument("--default-only", action="store_true",
                   help="measure nothing: choose the default model again from the cards there and rewrite them")

    m = sub.add_parser("models", help="list the models offered for analysis, the default first")
    m.add_argument("--json", action="store_true",
                   help="print each model's card as JSON instead (the withdrawn ones under \"withdrawn\")")
    m.add_argument("--all", action="store_true", help="also list the withdrawn models, each with its reason")

    s = sub.add_parser("samples", help="generate the synthetic sample clips")
    s.add_argument("--out", default="sample_videos", help="output folder (default sample_videos)")

    b = sub.add_parser("bench", help="time the analysis per stage against the seed design")
    b.add_argument("video", nargs="?", help="clip to time (default: a generated 10 s 720p synthetic face clip)")
    b.add_argument("--frames", type=_frame_list, default=[10, 20, 40, 60, 80, 100], help="comma-separated counts")
    b.add_argument("--runs", type=_runs, default=5, help="timed runs per frame count, after a warm-up (default 5)")
    b.add_argument("--no-explain", action="store_true", help="leave Grad-CAM out of our total")
    b.add_argument("--no-4k", action="store_true",
                   help="skip the 10 s and 60 s 4K clips (generated once, a few minutes, then reused)")
    b.add_argument("--json", metavar="OUT", help="also write the timings as JSON here")
    b.add_argument("--work-dir", default="runs/bench", help="generated clip and seed checkpoint (default runs/bench)")
    _common(b)

    bt = sub.add_parser("batch", help="analyse many videos into a resumable JSON-lines file (local workers or Ray)")
    bt.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="video/image files, folders (searched recursively), quoted globs, or a .csv with a path column")
    bt.add_argument("--out", required=True, help="JSON-lines output; run again with the same file to resume")
    bt.add_argument("--frames", type=_frames, default=20, help="frames sampled over each clip (default 20)")
    bt.add_argument("--workers", type=_non_negative,
                    help="worker processes (0: in this process), or Ray actors; default: one per CPU core")
    bt.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                    help="run on Ray: alone, a Ray instance on this machine; with an address "
                         "(auto, HOST:6379, ray://HOST:10001), that cluster (needs `make ray`)")
    bt.add_argument("--time-limit", type=_seconds, metavar="SECONDS",
                    help="give a video an error line if it takes longer than this; default: no limit")
    bt.add_argument("--summary", metavar="CSV", help="also write the results as a CSV table here")
    bt.add_argument("--retry-failed", action="store_true", help="run again the videos the output holds as failed")
    bt.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common(bt)

    v = sub.add_parser("serve", help="serve the HTTP API (POST /v1/analyze; docs at /docs)")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    v.add_argument("--workers", type=_runs, help="analyses run at the same time (default 2)")
    v.add_argument("--queue", type=_non_negative, help="requests waiting beyond those; more get 503 (default 4)")
    v.add_argument("--max-upload-mb", type=_runs, help="upload limit in MB (default 200)")
    v.add_argument("--uploads-per-client", type=_runs,
                   help="uploads one client address may send at once; more get 429 (default 8)")
    v.add_argument("--upload-min-kib-s", type=_non_negative, metavar="KIB_S",
                   help="an upload slower than this on average after its first 10 s gets 408 (default 32; 0: none)")
    v.add_argument("--threads", type=int, help="torch CPU threads")
    v.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    _verbose_flag(v)
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="NAME",
                   help="an installed model (see `python -m dfcore models`); default: the default model")
    p.add_argument("--weights", help="checkpoint .pt (with SHA256SUMS beside it); overrides --model")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--runtime", choices=("onnx", "torch"),
                   help="what runs the per-frame CNN: onnx (ONNX Runtime, CPU) or torch; "
                        "default: onnx on the CPU when installed")
    _verbose_flag(p)


def _verbose_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true",
                   help="also show MediaPipe's, absl's and TFLite's own log lines (hidden by default)")


def _check_offered(args: argparse.Namespace) -> None:
    """Refuse ``--model`` naming a withdrawn model before anything loads (``--weights`` is the user's own choice).

    Raises:
        WithdrawnModelError, UnknownModelError, NoWeightsInstalledError: see :func:`resolve_offered`.
    """
    from .models.model_registry import resolve_offered

    if args.model and not args.weights:
        resolve_offered(args.model)


def _analyze(args: argparse.Namespace) -> int:
    from .analyze import analyze_video
    from .models.detector import load_detector

    _check_offered(args)
    det = load_detector(args.weights, device=args.device, threads=args.threads, model=args.model,
                        runtime=args.runtime)
    r = analyze_video(args.video, args.frames, detector=det, explain=args.explain, time_limit_s=args.time_limit)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2))
        return 0
    print("\n".join(format_result(r)))
    return 0


def format_result(r: "AnalysisResult") -> list[str]:
    """``analyze``'s text: the verdict and its sentence, the score against both thresholds, why, how rare.

    Args:
        r: the analysis.

    Returns:
        The lines to print, the file first.
    """
    from .decision import NO_FACE, VERDICT_LABELS, VERDICT_SENTENCES, percent

    lines = [r.path, f"  verdict: {VERDICT_LABELS.get(r.verdict, r.verdict)}. {VERDICT_SENTENCES.get(r.verdict, '')}"]
    fake, no_sign = percent(r.threshold), percent(r.t_no_sign)
    score = "-" if r.fake_probability is None else percent(r.fake_probability)
    lines.append(f"  fake score: {score}  (FAKE at or above {fake}; NO SIGN FOUND below {no_sign})")
    if r.verdict != NO_FACE and r.t_no_sign == r.threshold and r.decision_rule:
        # A one-threshold model: say so, or the user looks for an UNCERTAIN band that is not there.
        lines.append(f"  thresholds: {r.decision_rule}")
    lines += [f"  why uncertain: {s}" for s in r.reason_sentences]
    if r.rarity:
        lines.append(f"  rarity: {r.rarity}")
    lines.append(f"  frames: {len(r.frames)} analysed, {r.n_faces} with a face")
    lines.append("  seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in r.timings_s.items()))
    lines += [f"  note: {note}" for note in r.notes]
    return lines


def _evaluate(args: argparse.Namespace) -> int:
    from .training.sources.datasets import read_dataset
    from .training.sources.user_files import read_csv
    from .models.detector import load_detector
    from .evaluation.evaluate import evaluate, format_table

    items = read_csv(args.csv) if args.csv else read_dataset(args.dataset)
    if args.limit:
        items = items[: args.limit]
    det = load_detector(args.weights, device=args.device, threads=args.threads, model=args.model,
                        runtime=args.runtime)
    step = max(1, len(items) // 20)
    report = evaluate(items, args.frames, det,
                      progress=lambda i, n, p: print(f"  {i}/{n}", file=sys.stderr) if i % step == 0 else None)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(format_table(report))
    return 0


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .training.recipe import RECIPE, DataConfig
    from .training.sources.splits import prepare_data
    from .training.train import TrainConfig, recalibrate, train

    if args.dataset or args.csv:
        return _train_custom(args)
    cfg = TrainConfig(data=DataConfig(data_root=args.data))
    if args.runs:
        runs = tuple(r.strip() for r in args.runs.split(",") if r.strip())
        unknown = [r for r in runs if r not in RECIPE]
        if unknown:
            print(f"error: unknown run(s) {unknown}; the recipe has {list(RECIPE)}", file=sys.stderr)
            return EXIT_INPUT_ERROR
        cfg = replace(cfg, runs=runs)
    overrides = {"step_scale": args.step_scale, "weights_dir": args.weights_dir, "work_dir": args.work_dir}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if args.settings:
        from .training.run_overrides import OverrideError, override_run

        if not (args.weights_dir and args.work_dir):
            print("error: --set trains a variant of the recipe: give it its own --weights-dir and --work-dir, so "
                  "that the shipped checkpoints and the recipe's resumable state are not replaced", file=sys.stderr)
            return EXIT_INPUT_ERROR
        try:
            for name in cfg.runs:
                override_run(RECIPE[name], args.settings)
        except OverrideError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_INPUT_ERROR
        cfg = replace(cfg, overrides=tuple(args.settings))
    if args.extract_only:
        prepare_data(cfg.data, Path(cfg.work_dir), only=tuple(args.extract_only.split(",")))
        return 0
    if args.recalibrate:
        recalibrate(cfg)
        return 0
    train(cfg)
    return 0


def _train_custom(args: argparse.Namespace) -> int:
    from .training.custom import CustomTrainOptions, train_custom

    recipe_only = {"runs": "--runs", "step_scale": "--step-scale", "weights_dir": "--weights-dir",
                   "extract_only": "--extract-only", "settings": "--set"}
    for dest, flag in recipe_only.items():
        if getattr(args, dest):
            print(f"error: {flag} belongs to the recipe (make train), not to --dataset/--csv",
                  file=sys.stderr)
            return EXIT_INPUT_ERROR
    if min(args.steps, args.clip_steps, args.frames_per_clip, args.batch, args.threads) < 1:
        print("error: --steps, --clip-steps, --frames-per-clip, --batch and --threads must be at least 1",
              file=sys.stderr)
        return EXIT_INPUT_ERROR
    opts = CustomTrainOptions(
        datasets=tuple((args.dataset or []) + (args.csv or [])), out=args.out or "weights/custom.pt",
        init=args.init, from_imagenet=args.from_imagenet, model=args.model, steps=args.steps,
        clip_steps=args.clip_steps, val_fraction=args.val_fraction, frames_per_clip=args.frames_per_clip, lr=args.lr,
        frame_counts=tuple(args.frames), batch=args.batch, seed=args.seed, threads=args.threads,
        **({"work_dir": args.work_dir} if args.work_dir else {}))
    result = train_custom(opts)
    print(f"{result.checkpoint}  sha256 {result.sha256}\ncard: {result.card_path}")
    return 0


def _card(args: argparse.Namespace) -> int:
    from .evaluation.card import build_cards, record_default

    if args.default_only:
        record_default(args.weights_dir)
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    build_cards(args.data, args.weights_dir, args.model, tuple(args.frames))
    return 0


def _models(args: argparse.Namespace) -> int:
    from .models.model_registry import describe_models, list_models, withdrawn_models

    if args.json:
        print(json.dumps(describe_models(), indent=2, ensure_ascii=False))
        return 0
    for m in list_models():
        print(m.name)
    if args.all:
        for m in withdrawn_models():
            print(f"{m.name} (withdrawn: {m.withdrawn})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serving.api import ApiOptions, api_key_from_env, serve
    from .serving.upload import MB

    limit = args.max_upload_mb * MB if args.max_upload_mb else None
    min_rate = args.upload_min_kib_s * 1024 if args.upload_min_kib_s is not None else None
    given = {"workers": args.workers, "queue": args.queue, "max_upload_bytes": limit, "device": args.device,
             "threads": args.threads, "uploads_per_client": args.uploads_per_client,
             "upload_min_bytes_per_s": min_rate}
    serve(args.host, args.port,
          ApiOptions(api_key=api_key_from_env(), **{k: v for k, v in given.items() if v is not None}))
    return 0


def _samples(args: argparse.Namespace) -> int:
    from .synth.samples import generate_samples

    for p in generate_samples(args.out):
        print(p)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .evaluation.speed.bench import BenchOptions, format_table, run_bench
    from .models.detector import load_detector
    from .models.model_registry import list_models, resolve_model, withdrawn_models
    from .models.onnx_runtime import RUNTIMES, onnx_runtime_installed

    _check_offered(args)
    det = load_detector(args.weights, device=args.device, threads=args.threads, model=args.model,
                        runtime=args.runtime)
    entry = None if args.weights else resolve_model(args.model)
    # Without --model or --weights every installed model is timed: the default in full, the others per frame count;
    # without --runtime, each under both runtimes of the per-frame CNN (where ONNX Runtime can run).
    runtimes = [args.runtime] if args.runtime else [det.runtime, *(r for r in RUNTIMES if r != det.runtime)]
    if det.device.type != "cpu" or not onnx_runtime_installed():
        runtimes = [det.runtime]
    paths = {entry.name if entry else Path(args.weights).stem: entry.path if entry else Path(args.weights)}
    if not (args.weights or args.model):
        paths.update((m.name, m.path) for m in list_models() if not m.default)
        # A withdrawn model is timed too (withdrawn for its accuracy, not its speed), and labelled so.
        paths.update((f"{m.name}, withdrawn", m.path) for m in withdrawn_models())
    others = {f"{name} ({rt})": load_detector(path, device=args.device, runtime=rt)
              for name, path in paths.items() for rt in runtimes
              if (name, rt) != (next(iter(paths)), det.runtime)}
    opts = BenchOptions(frame_counts=tuple(args.frames), runs=args.runs, seed_runs=args.runs,
                        explain=not args.no_explain, threads=args.threads, work_dir=Path(args.work_dir),
                        long_clips=not args.no_4k)
    result = run_bench(Path(args.video) if args.video else None, det, opts,
                       weights=args.weights or (str(entry.path) if entry else None), others=others,
                       model=entry.name if entry else "", is_default=bool(entry and entry.default))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
    print(format_table(result))
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .serving.batch import BatchOptions, run_batch

    inputs, address = list(args.inputs), args.ray
    if address is not None and Path(address).exists():
        # `--ray clips/ ...`: argparse took the first input for the (optional) address.
        inputs.insert(0, address)
        address = "local"
    if address is not None and args.workers == 0:
        print("error: --ray needs at least 1 worker (actor); leave out --workers or give 1 or more", file=sys.stderr)
        return EXIT_INPUT_ERROR
    opts = BatchOptions(n_frames=args.frames, model=args.model, weights=args.weights, device=args.device,
                        workers=args.workers, threads=args.threads, ray=address is not None, ray_address=address,
                        time_limit_s=args.time_limit, retry_failed=args.retry_failed,
                        progress=not args.no_progress)
    try:
        summary = run_batch(inputs, args.out, opts, summary_csv=args.summary)
    except KeyboardInterrupt:
        print(f"interrupted: the lines in {args.out} are kept; run the same command again to resume", file=sys.stderr)
        return 130
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


@contextmanager
def _command_environment(args: argparse.Namespace) -> Iterator[None]:
    """``--verbose`` and ``--runtime`` as environment variables for the command's length (restored after).

    Set before MediaPipe loads (every command imports it lazily; its loggers read their level once),
    and inherited by a batch's worker processes, which then log and load the same way.
    """
    from .models.onnx_runtime import RUNTIME_ENV
    from .vision.native_logs import QUIET_ENV, VERBOSE_ENV, quiet_environment, set_verbose

    names = (VERBOSE_ENV, RUNTIME_ENV, *QUIET_ENV)
    before = {n: os.environ.get(n) for n in names}
    try:
        if getattr(args, "verbose", False):
            set_verbose(True)
        else:
            quiet_environment()
        if getattr(args, "runtime", None):
            os.environ[RUNTIME_ENV] = args.runtime
        yield
    finally:
        for n, v in before.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


COMMANDS = {"analyze": _analyze, "evaluate": _evaluate, "train": _train, "card": _card, "samples": _samples, "models": _models,
            "bench": _bench, "serve": _serve, "batch": _batch}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with _command_environment(args):
            return COMMANDS[args.command](args)
    except DfcoreError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
