"""Short teacher runs that differ from the recipe in one setting, to measure what that setting is worth.

``python -m dfcore.training.ablation --steps 300`` trains the recipe's teacher briefly as it is
("recipe"), at 224 px instead of 160 ("input_224", its FF++ faces cached at 330 px so the 224 px crop
holds the video's own detail, not an upsampled 164 px one; the DFDC crops are 224 px files either
way), without degradations ("no_degradation") or at full strength ("full_degradation"), with
self-blends as the only fakes ("sbi_only", as the SBI paper trains), at a lower learning rate
("lower_lr"), with more FF++ faces per batch ("more_ffpp") and with the stem and layer1 kept
at their ImageNet weights ("frozen_early": the CNN's share of a step takes about half as long),
each from the same ImageNet start, seed and batches. It prints each one's frame AUC on the
calibration split (FF++ faces and DFDC crops), clean and degraded at full strength (what the
degradations in training buy), with the seconds it took. Short runs rank settings only roughly:
the numbers say which way a setting points at equal steps, not what a full run reaches ("frozen_early"
led after 300 steps and fell behind in a full run; see the README).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from .train import RECIPE, DataConfig, FacePools, RunConfig, build_model, load_or_extract, make_splits, monitor, \
    prepare_data, run_preprocess, train_frames

VARIANTS: dict[str, dict] = {  # RunConfig overrides, and the FF++ cache size (the recipe's: 240 px)
    "recipe": {},
    "input_224": {"input_size": 224, "ffpp_cache_size": 330},
    "no_degradation": {"augment_strength": 0.0},
    "full_degradation": {"augment_strength": 1.0},
    "sbi_only": {"sbi_fraction": 1.0},
    "lower_lr": {"lr": 1.5e-4},
    "more_ffpp": {"ffpp_share": 0.6},
    "frozen_early": {"frozen_stages": ("stem", "layer1")},
}


def run_variant(name: str, run: RunConfig, pools: FacePools, monitor_sets: dict, work: Path, steps: int) -> dict:
    """Train one variant's frame stage for ``steps`` steps (resumable) and return its last monitoring line,
    with the frame AUC on the same faces degraded at full strength (keys ``..._degraded_frame_auc``)."""
    (work / name).mkdir(parents=True, exist_ok=True)
    model = build_model(run)
    t = time.time()
    history, seconds = train_frames(model, run, pools, monitor_sets, work / name, steps, None)
    degraded = monitor(model, run_preprocess(run), monitor_sets, degrade=1.0)
    degraded = {k.replace("_frame_auc", "_degraded_frame_auc"): v for k, v in degraded.items()}
    return {"variant": name, "steps": steps, **history[-1], **degraded,
            "seconds": round(seconds or time.time() - t, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/ and dfdc_faces/")
    p.add_argument("--steps", type=int, default=300, help="frame-stage steps per variant")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    p.add_argument("--work-dir", default="runs/ablation", help="resumable state and the results (git-ignored)")
    args = p.parse_args(argv)
    work = Path(args.work_dir)
    data = prepare_data(DataConfig(data_root=args.data), work,
                        only=("ffpp_train", "ffpp_calib", "dfdc_train", "dfdc_calib"))
    base = RECIPE["lite0_lstm"]
    results = []
    for name in args.variants.split(","):
        overrides = dict(VARIANTS[name])
        ff = {k: data.crops[k] for k in ("ffpp_train", "ffpp_calib")}
        if "ffpp_cache_size" in overrides:
            cfg = DataConfig(data_root=args.data, cache_size=overrides.pop("ffpp_cache_size"))
            splits = make_splits(cfg)
            ff = {k: load_or_extract(k, splits[k], cfg.frames_per_clip, cfg)[0] for k in ff}
        run = replace(base, name=f"ablation_{name}", frame_steps=args.steps, eval_every=args.steps, **overrides)
        pools = FacePools({"ffpp": ff["ffpp_train"], "dfdc": data.crops["dfdc_train"]},
                          {"ffpp": run.ffpp_share, "dfdc": 1.0 - run.ffpp_share})
        monitor_sets = {"ffpp_calib": ff["ffpp_calib"], "dfdc_calib": data.crops["dfdc_calib"]}
        results.append(run_variant(name, run, pools, monitor_sets, work, args.steps))
        print(json.dumps(results[-1]), flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("frame AUC on the calibration split, clean and degraded at full strength (the same faces, the same "
          "degradations for every variant)")
    print(f"{'variant':<18}{'FF++':>8}{'DFDC':>8}{'FF++ degraded':>15}{'DFDC degraded':>15}{'seconds':>9}")
    for r in results:
        print(f"{r['variant']:<18}{r['ffpp_calib_frame_auc']:>8.3f}{r['dfdc_calib_frame_auc']:>8.3f}"
              f"{r['ffpp_calib_degraded_frame_auc']:>15.3f}{r['dfdc_calib_degraded_frame_auc']:>15.3f}"
              f"{r['seconds']:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
