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

``--base lite0_lstm_without_faceswap`` starts the variants from the leave-one-method-out run instead,
whose FaceSwap clips are never trained on: each variant is then also scored on a method it has never
seen, without touching the test split. The "unseen" set is every FaceSwap face of the train and
calibration splits against the calibration split's real faces (plus "ffpp_calib_seen", the calibration
split without FaceSwap, when it holds any; with the recipe's seed it holds none). The train split's
FaceSwap clips share identities with train reals the run learnt from, which may make those fakes look
more real: a bias shared by every variant, so the set ranks them fairly, but its numbers are not the
card's leave-one-method-out check.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path


from .sources.face_cache import CropSet, select_faces
from .recipe import LEAVE_ONE_OUT, RECIPE, DataConfig, RunConfig
from .sources.splits import load_or_extract, make_splits, prepare_data
from .stages.frames import FacePools, monitor, train_frames
from .stages.model_input import run_preprocess
from .train import build_model

VARIANTS: dict[str, dict] = {  # RunConfig overrides, and the FF++ cache size (the recipe's: 240 px)
    "recipe": {},
    "input_224": {"input_size": 224, "ffpp_cache_size": 330},
    "no_degradation": {"augment_strength": 0.0},
    "full_degradation": {"augment_strength": 1.0},
    "sbi_only": {"sbi_fraction": 1.0},
    "sbi_075": {"sbi_fraction": 0.75},
    "inner_mask": {"inner_face_prob": 0.5},
    "lower_lr": {"lr": 1.5e-4},
    "more_ffpp": {"ffpp_share": 0.6},
    "frozen_early": {"frozen_stages": ("stem", "layer1")},
}


def unseen_method_sets(train: CropSet, calib: CropSet, methods: tuple[str, ...]) -> dict[str, CropSet]:
    """Held-out faces for a run that leaves ``methods`` out: their fakes from train and calibration against the
    calibration reals ("unseen"), and the calibration split without them ("ffpp_calib_seen")."""
    left_out = {f"ffpp/{m}" for m in methods}
    calib_paths = {it["path"] for it in calib.items}
    sets = {"unseen": select_faces([train, calib], lambda it: it["source"] in left_out or (
        it["label"] == 0 and it["path"] in calib_paths))}
    if any(it["source"] in left_out for it in calib.items):  # else "ffpp_calib" is already without them
        sets["ffpp_calib_seen"] = select_faces([calib], lambda it: it["source"] not in left_out)
    return sets


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
    p.add_argument("--base", default="lite0_lstm", choices=["lite0_lstm", LEAVE_ONE_OUT],
                   help=f"the recipe run the variants start from ({LEAVE_ONE_OUT}: also scored on the method it "
                        "leaves out)")
    p.add_argument("--monitor-every", type=int, default=0, help="steps between scorings (0: at the end only)")
    p.add_argument("--work-dir", default="runs/ablation", help="resumable state and the results (git-ignored)")
    args = p.parse_args(argv)
    work = Path(args.work_dir)
    data = prepare_data(DataConfig(data_root=args.data), work,
                        only=("ffpp_train", "ffpp_calib", "dfdc_train", "dfdc_calib"))
    base = RECIPE[args.base]
    results = []
    for name in args.variants.split(","):
        overrides = dict(VARIANTS[name])
        ff = {k: data.crops[k] for k in ("ffpp_train", "ffpp_calib")}
        if "ffpp_cache_size" in overrides:
            cfg = DataConfig(data_root=args.data, cache_size=overrides.pop("ffpp_cache_size"))
            splits = make_splits(cfg)
            ff = {k: load_or_extract(k, splits[k], cfg.frames_per_clip, cfg)[0] for k in ff}
        run = replace(base, name=f"ablation_{name}", frame_steps=args.steps,
                      eval_every=args.monitor_every or args.steps, select_best=False, **overrides)
        pools = FacePools({"ffpp": ff["ffpp_train"], "dfdc": data.crops["dfdc_train"]},
                          {"ffpp": run.ffpp_share, "dfdc": 1.0 - run.ffpp_share}, run.exclude_methods)
        monitor_sets = {"ffpp_calib": ff["ffpp_calib"], "dfdc_calib": data.crops["dfdc_calib"]}
        if run.exclude_methods:
            monitor_sets |= unseen_method_sets(ff["ffpp_train"], ff["ffpp_calib"], run.exclude_methods)
        results.append(run_variant(name, run, pools, monitor_sets, work, args.steps))
        print(json.dumps(results[-1]), flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("frame AUC on the calibration split, clean and degraded at full strength (the same faces, the same "
          "degradations for every variant)")
    columns = [("ffpp_calib", "FF++"), ("dfdc_calib", "DFDC"), ("ffpp_calib_seen", "FF++ seen"),
               ("unseen", "unseen")]
    columns = [(k, label) for k, label in columns if f"{k}_frame_auc" in results[0]]
    print(f"{'variant':<18}" + "".join(f"{label:>11}" for _, label in columns)
          + "".join(f"{label + ' degr.':>14}" for _, label in columns) + f"{'seconds':>9}")
    for r in results:
        print(f"{r['variant']:<18}" + "".join(f"{r[k + '_frame_auc']:>11.3f}" for k, _ in columns)
              + "".join(f"{r[k + '_degraded_frame_auc']:>14.3f}" for k, _ in columns) + f"{r['seconds']:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
