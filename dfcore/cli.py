"""``python -m dfcore``: analyze, evaluate, train, card, samples, bench.

Errors the user can act on (bad file, no weights, bad dataset) end the
command with exit status 2 and one line on stderr naming the file and the
problem; a traceback only ever means a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import DfcoreError

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


def _runs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


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

    t = sub.add_parser("train", help="train the default detector (see `make train`)")
    t.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/ and dfdc_faces/")
    t.add_argument("--steps", type=int, help="optimiser steps (default: the TrainConfig's)")
    t.add_argument("--out", help="checkpoint to write (default weights/deepfake_lens_compact.pt)")
    t.add_argument("--work-dir", help="resumable state and logs (default runs/train)")
    t.add_argument("--threads", type=int, help="torch CPU threads")

    c = sub.add_parser("card", help="evaluate the weights on their validation split and write the model card")
    c.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/ and dfdc_faces/")
    c.add_argument("--out", default="weights", help="folder for model_card.json and MODEL_CARD.md")
    c.add_argument("--frames", type=_frame_list, default=[10, 20, 40, 60, 80, 100], help="comma-separated counts")
    _common(c)

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
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="checkpoint .pt (with SHA256SUMS beside it); default: the installed weights")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")


def _analyze(args: argparse.Namespace) -> int:
    from .analyze import analyze_video
    from .detector import load_detector

    det = load_detector(args.weights, device=args.device, threads=args.threads)
    r = analyze_video(args.video, args.frames, detector=det, explain=args.explain, time_limit_s=args.time_limit)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2))
        return 0
    prob = "-" if r.fake_probability is None else f"{r.fake_probability:.3f}"
    print(f"{r.path}\n  verdict: {r.verdict}  fake probability: {prob}  threshold: {r.threshold:.3f}")
    print(f"  frames: {len(r.frames)} analysed, {r.n_faces} with a face")
    print("  seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in r.timings_s.items()))
    for note in r.notes:
        print(f"  note: {note}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .datasets import read_csv, read_dataset
    from .detector import load_detector
    from .evaluate import evaluate, format_table

    items = read_csv(args.csv) if args.csv else read_dataset(args.dataset)
    if args.limit:
        items = items[: args.limit]
    det = load_detector(args.weights, device=args.device, threads=args.threads)
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

    from .train import TrainConfig, train

    cfg = TrainConfig(data_root=args.data)
    overrides = {"steps": args.steps, "out": args.out, "work_dir": args.work_dir, "threads": args.threads}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    train(cfg)
    return 0


def _card(args: argparse.Namespace) -> int:
    from .card import build_card

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    build_card(args.weights, args.data, args.out, tuple(args.frames))
    return 0


def _samples(args: argparse.Namespace) -> int:
    from .samples import generate_samples

    for p in generate_samples(args.out):
        print(p)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import BenchOptions, format_table, run_bench
    from .detector import load_detector

    det = load_detector(args.weights, device=args.device, threads=args.threads)
    opts = BenchOptions(frame_counts=tuple(args.frames), runs=args.runs, seed_runs=args.runs,
                        explain=not args.no_explain, threads=args.threads, work_dir=Path(args.work_dir),
                        long_clips=not args.no_4k)
    result = run_bench(Path(args.video) if args.video else None, det, opts, weights=args.weights)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
    print(format_table(result))
    return 0


COMMANDS = {"analyze": _analyze, "evaluate": _evaluate, "train": _train, "card": _card, "samples": _samples,
            "bench": _bench}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DfcoreError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
