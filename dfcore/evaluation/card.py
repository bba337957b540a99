"""Model cards: measured, never typed in.

``python -m dfcore card`` (``make evaluate``) rebuilds the identity-disjoint
splits the checkpoints were trained with, runs ``evaluate`` on the *test*
split with the full inference pipeline (training never saw it; calibration and
the threshold came from the separate calibration split), scores the
leave-one-method-out checkpoint on the method it never saw, and writes
``weights/NAME.card.json`` (read by the dashboard and ``python -m dfcore models
--json``) and ``weights/NAME.card.md`` (rendered from that JSON) for each model.
It then picks the default model by the rule in :func:`choose_default`, from the
cards' own numbers, and writes ``weights/models.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

import torch

from .. import __version__
from ..training.sources.items import LabelledItem
from ..models.detector import Detector, load_detector
from ..training.sources.calibration_pool import IMAGE_DOMAINS, pool_items
from .leave_out import left_out_items
from .evaluate import DEFAULT_FRAME_COUNTS, auc_change_sentence, evaluate, format_table, report_of, score_items
from .thresholds import OUTCOMES
from .verdict_validation import error_rates, verdict_validation
from ..models.model_registry import CARD_MD_SUFFIX, WITHDRAWN_KEY, card_path_for, withdrawn_reason, write_index
from ..training.recipe import LEAVE_ONE_OUT, RECIPE, DataConfig
from ..training.sources.splits import make_splits, trained_data_config, write_split_csvs

LIMITATIONS = [
    "Trained on little data (a FaceForensics++ c23 subset with 3 manipulation methods; DFDC: one face crop per "
    "video) on 2 CPU cores: expect errors on other datasets, other manipulation methods, heavy compression and "
    "low light. The FF++ test split is small (see the scored counts), so one clip moves its AUC by several "
    "hundredths.",
    "The verdict is about the one tracked face (the largest, most persistent one); other faces are not analysed.",
    "Clips without a detectable face give NO_FACE; NO SIGN FOUND means no sign of manipulation was found, not "
    "that the clip is authentic.",
    "Audio, lip-sync and fully synthetic (GAN/diffusion) videos without a face swap are out of scope.",
    "Probabilities are calibrated on a small calibration split; on other data they are indicative, not exact, "
    "and the share of real clips called FAKE can be higher than the 5% aimed for.",
    "A detector is evidence, not proof: use it together with provenance checks and human judgement.",
]

DATA_TERMS = (
    "FaceForensics++ (Rössler et al., ICCV 2019) and the DFDC dataset (Dolhansky et al., 2020, "
    "arXiv:2006.07397) are released for research use only. Neither the data nor clips or frames cut from it "
    "are part of this project; only weights trained on it are. Use these weights for research."
)
# Said as well when the weights learnt from talking_heads/ (its clips' own terms, from the data's README).
TALKING_HEADS_TERMS = (
    " The talking_heads/ clips (DeepFaceLive, MEAD, VoxCeleb2, LIA, AniTalker, SadTalker, MuseV, DreamTalk) "
    "belong to their publishers, who published them for research demonstration; they are used for research only "
    "and are not redistributed either."
)
TALKING_HEADS_LIMITATION = (
    "Talking heads generated from one photo and live face swaps were learnt from a few dozen clips (the "
    "talking_heads/ train split): their test AUC is well below FF++'s (see the table), and generators it never "
    "saw can pass as NO SIGN FOUND."
)
INTERVAL_NOTE = ("AUCs in brackets: 95% interval of a bootstrap that resamples reals and fakes separately, by clip "
                 "(a clip's frames are resampled together); how far the split's size lets the number be trusted.")
LOO_METHOD = "FaceSwap"  # the FF++ method the leave-one-method-out run never saw
LOO_FRAMES = 20  # the frame count it is scored at (the dashboard's default)
DEFAULT_RULE_FRAMES = "20"  # the default model is chosen on the test AUC at this frame count...
DEFAULT_RULE_MARGIN = 0.02  # ...the ResNeXt-LSTM when within this of the teacher's
STUDENT, TEACHER = "resnext_lstm", "lite0_lstm"
# A model warm-started from the default replaces it when its card meets the rule written before that stage was
# trained (README, "A warm-started stage that learns the talking heads"): it learns what its parent missed and
# keeps what its parent had, without more false alarms on real video. Test-split AUCs at DEFAULT_RULE_FRAMES.
SUCCESSOR_TH_GAIN = 0.05  # talking-head AUC at least this far above the parent's
SUCCESSOR_KEEP = 0.03  # FF++ and DFDC AUCs at most this far below the parent's
SUCCESSOR_MAX_REALS_FAKE = 0.10  # at most this share of the validation pool's video reals called FAKE


def build_cards(data_root: str, weights_dir: str | os.PathLike = "weights", names: list[str] | None = None,
                frame_counts: tuple[int, ...] = DEFAULT_FRAME_COUNTS, work_dir: str = "runs/card") -> dict[str, dict]:
    """Evaluate each shipped model on its test split, write its card, then the model list.

    Args:
        data_root: folder holding ffpp_c23/ and dfdc_faces/.
        weights_dir: where the checkpoints are and the cards go.
        names: the models to card (None: every recipe model whose checkpoint exists).
        frame_counts: frame counts for the FF++ clips.
        work_dir: where the split CSVs and full evaluation reports go.

    Returns:
        {model name: card}.
    """
    folder = Path(weights_dir)
    names = names or _offered(folder)
    loo = _leave_one_out(folder, data_root, work_dir)
    cards = {}
    for name in names:
        cards[name] = build_card(folder / f"{name}.pt", data_root, frame_counts, work_dir, loo)
    return {**cards, **record_default(folder, cards)}


def _offered(folder: Path) -> list[str]:
    # A withdrawn model keeps the card it was withdrawn with (its reason says why); it is not measured again.
    return [n for n in RECIPE if n != LEAVE_ONE_OUT and (folder / f"{n}.pt").is_file()
            and not withdrawn_reason(folder / f"{n}.pt")]


def record_default(weights_dir: str | os.PathLike, fresh: dict[str, dict] | None = None) -> dict[str, dict]:
    """Choose the default model from the cards (:func:`choose_default`) and write it down: ``models.json``,
    and in each card which model is the default, and why. Measures nothing.

    Args:
        weights_dir: where the checkpoints and their cards are.
        fresh: cards just built, by model name (the others are read from disk).

    Returns:
        {model name: card} for every offered model with a card (none: {}).
    """
    folder, fresh = Path(weights_dir), fresh or {}
    every = [n for n in _offered(folder) if n in fresh or card_path_for(folder / f"{n}.pt").is_file()]
    if not every:
        return {}
    cards = {n: fresh.get(n) or json.loads(card_path_for(folder / f"{n}.pt").read_text()) for n in every}
    default, why = choose_default(cards)
    write_index(folder, [default] + [n for n in every if n != default], why)
    for name, card in cards.items():  # each card says which model is the default, and why
        card["default_model"] = {"is_default": name == default, "default": default, "why": why}
        _write_card(folder / f"{name}.pt", card)
    print(f"default model: {default} ({why})", flush=True)
    return cards


def build_card(weights: str | os.PathLike, data_root: str, frame_counts: tuple[int, ...] = DEFAULT_FRAME_COUNTS,
               work_dir: str = "runs/card", leave_one_out: dict | None = None) -> dict:
    """Evaluate one checkpoint on its test split and write ``NAME.card.json`` and ``NAME.card.md`` beside it.

    Args:
        weights: the checkpoint.
        data_root: folder holding ffpp_c23/ and dfdc_faces/.
        frame_counts: frame counts for the FF++ clips.
        work_dir: where the split CSVs and full evaluation reports go.
        leave_one_out: the recipe's leave-one-method-out result (see :func:`build_cards`), or None.

    Returns:
        The card as a dict.
    """
    det = load_detector(weights)
    data_cfg = data_config_of(det, data_root)
    splits = make_splits(data_cfg)
    out = Path(work_dir) / Path(weights).stem
    csvs = write_split_csvs(splits, Path(work_dir) / "splits")
    progress = _printer()
    pools = pool_items(splits, "validation", work_dir)
    scored: dict[str, list] = {}
    for dom, items in pools.items():
        counts = (1,) if dom in IMAGE_DOMAINS else frame_counts
        print(f"[{Path(weights).stem}] {dom}: {len(items)} test items at {list(counts)} frames", flush=True)
        # FF++ is timed as a user waits (each count analysed afresh); the other domains only need the scores.
        scored[dom] = score_items(items, counts, det, progress, reuse_decoding=dom != "ffpp")
    reports = {dom: report_of(vs, (1,) if dom in IMAGE_DOMAINS else frame_counts, det) for dom, vs in scored.items()}
    out.mkdir(parents=True, exist_ok=True)
    for dom, rep in reports.items():
        print(format_table(rep), flush=True)
        (out / f"{dom}_test_report.json").write_text(json.dumps(rep, indent=2))
    validation = verdict_validation({d: v for d, v in scored.items() if d not in IMAGE_DOMAINS},
                                    {d: v for d, v in scored.items() if d in IMAGE_DOMAINS}, det.rule, frame_counts)
    card = _card(det, data_cfg, reports, validation, {k: str(v) for k, v in csvs.items()}, leave_one_out)
    reason = withdrawn_reason(weights)
    if reason:  # measured again on request, still withdrawn: the reason stays until someone removes it
        card[WITHDRAWN_KEY] = reason
    _write_card(Path(weights), card)
    return card


def _write_card(weights: Path, card: dict) -> None:
    """``NAME.card.json`` and its rendering ``NAME.card.md`` beside the checkpoint."""
    card_json = card_path_for(weights)
    card_json.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    card_json.with_name(weights.stem + CARD_MD_SUFFIX).write_text(render_markdown(card))


def choose_default(cards: dict[str, dict]) -> tuple[str, str]:
    """The default model, by two rules on the cards' own numbers.

    First the teacher or the student: the ResNeXt-LSTM when its FF++ test AUC at 20 frames is within 0.02 of the
    teacher's. Then, as long as a model warm-started from the default passes :func:`successor_check` against
    it, that model.

    Returns:
        (the default model's name, why, in words with the AUCs behind it).
    """
    default, why = _student_or_teacher(cards)
    seen = {default}
    while True:
        heirs = [n for n, c in cards.items() if n not in seen and warm_started_from(c) == default]
        passing = [(n, reason) for n in heirs for ok, reason in [successor_check(cards[n], cards[default])] if ok]
        if not passing:
            return default, why
        parent = default
        default, reason = passing[0]
        why = f"warm-started from {parent} and {reason}"
        seen.add(default)


def warm_started_from(card: dict) -> str | None:
    """The model a card's weights were warm-started from (its name), or None."""
    start = ((card.get("training") or {}).get("data") or {}).get("warm_started_from")
    return Path(start).stem if start else None


def _test_auc(card: dict, split: str, frames: str = DEFAULT_RULE_FRAMES) -> float | None:
    by = ((card.get("metrics") or {}).get(split) or {}).get("by_frames") or {}
    return (by.get(frames) or {}).get("auc")


def successor_check(child: dict, parent: dict) -> tuple[bool, str]:
    """Whether a warm-started model may replace its parent as the default (the rule of SUCCESSOR_*).

    Returns:
        (passes, the measured numbers against the rule's floors, in words).
    """
    th, th0 = _test_auc(child, "talking_heads_val"), _test_auc(parent, "talking_heads_val")
    ff, ff0 = _test_auc(child, "ffpp_c23_val"), _test_auc(parent, "ffpp_c23_val")
    dd, dd0 = _test_auc(child, "dfdc_faces_val", "1"), _test_auc(parent, "dfdc_faces_val", "1")
    reals = (((child.get("validation") or {}).get("by_frames") or {}).get(DEFAULT_RULE_FRAMES) or {}).get("real")
    fake_rate = ((reals or {}).get("FAKE") or {}).get("rate")
    if None in (th, th0, ff, ff0, dd, dd0, fake_rate):
        return False, "its card or its parent's lacks a number the rule needs"
    checks = [
        (th >= th0 + SUCCESSOR_TH_GAIN, f"talking-head test AUC {th:.3f} (floor {th0 + SUCCESSOR_TH_GAIN:.3f})"),
        (ff >= ff0 - SUCCESSOR_KEEP, f"FF++ {ff:.3f} (floor {ff0 - SUCCESSOR_KEEP:.3f})"),
        (dd >= dd0 - SUCCESSOR_KEEP, f"DFDC {dd:.3f} (floor {dd0 - SUCCESSOR_KEEP:.3f})"),
        (fake_rate <= SUCCESSOR_MAX_REALS_FAKE,
         f"validation video reals called FAKE {fake_rate:.1%} (at most {SUCCESSOR_MAX_REALS_FAKE:.0%})"),
    ]
    failed = [text for ok, text in checks if not ok]
    if failed:
        return False, "falls short of its rule: " + "; ".join(failed)
    return True, (f"passes its rule at {DEFAULT_RULE_FRAMES} frames: " + "; ".join(text for _, text in checks))


def _student_or_teacher(cards: dict[str, dict]) -> tuple[str, str]:
    """The first rule: the ResNeXt-LSTM when its test AUC at 20 frames is within 0.02 of the teacher's."""
    def auc(name: str) -> float | None:
        m = cards.get(name, {}).get("metrics", {}).get("ffpp_c23_val", {}).get("by_frames", {})
        return m.get(DEFAULT_RULE_FRAMES, {}).get("auc")

    s, t = auc(STUDENT), auc(TEACHER)
    if s is None or t is None:
        only = STUDENT if s is not None else TEACHER if t is not None else next(iter(cards))
        return only, "the only model with a measured card"
    if s >= t - DEFAULT_RULE_MARGIN:
        return STUDENT, (f"the ResNeXt-LSTM's FF++ test AUC at {DEFAULT_RULE_FRAMES} frames ({s:.3f}) is within "
                         f"{DEFAULT_RULE_MARGIN} of the teacher's ({t:.3f}), and it is faster")
    return TEACHER, (f"the ResNeXt-LSTM's FF++ test AUC at {DEFAULT_RULE_FRAMES} frames ({s:.3f}) is more than "
                     f"{DEFAULT_RULE_MARGIN} below the teacher's ({t:.3f})")


def data_config_of(det: Detector, data_root: str) -> DataConfig:
    """The split settings the checkpoint was trained with, so the test split is the same held-out data."""
    return trained_data_config(det.checkpoint.info, data_root)


def leave_one_out_items(splits: dict[str, list[LabelledItem]], method: str = LOO_METHOD) -> list[LabelledItem]:
    """Every clip of ``method`` (the run never saw one) against the real clips it never saw (calibration + test)."""
    return left_out_items(splits, [f"ffpp/{method}"])


def _leave_one_out(folder: Path, data_root: str, work_dir: str) -> dict | None:
    path = folder / "loo" / f"{LEAVE_ONE_OUT}.pt"
    if not path.is_file():
        return None
    det = load_detector(path)
    items = leave_one_out_items(make_splits(data_config_of(det, data_root)))
    print(f"[{LEAVE_ONE_OUT}] {len(items)} clips: {LOO_METHOD} (never seen) against unseen reals", flush=True)
    rep = evaluate(items, (LOO_FRAMES,), det, _printer())
    out = Path(work_dir) / LEAVE_ONE_OUT
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=2))
    m = rep["by_frames"][str(LOO_FRAMES)]
    return {
        "method": LOO_METHOD,
        "checkpoint": f"weights/loo/{path.name}",
        "sha256": det.sha256,
        "recipe": "the teacher's recipe, shorter, with every FaceSwap clip left out of training",
        "scored_on": f"all {sum(it.label for it in items)} FaceSwap clips against the "
                     f"{sum(1 - it.label for it in items)} real clips of the calibration and test splits "
                     f"(some FaceSwap targets' real clips were in training)",
        "frames": LOO_FRAMES,
        "auc": m["auc"],
        "auc_ci_low": m.get("auc_ci_low"),
        "auc_ci_high": m.get("auc_ci_high"),
        "frame_auc": m["frame_auc"],
        "n_scored": m["n_scored"],
    }


def _printer():
    def show(done: int, total: int, path: str) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {done}/{total}", flush=True)
    return show


def _metrics(by_frames: dict) -> dict:
    return {k: {m: v for m, v in row.items() if m != "reliability"} for k, row in by_frames.items()}


def _card(det: Detector, data_cfg: DataConfig, reports: dict[str, dict], validation: dict, csvs: dict,
          leave_one_out: dict | None = None) -> dict:
    ffpp, dfdc, th = reports["ffpp"], reports["dfdc"], reports.get("talking_heads")
    th_trained = learnt_talking_heads(det)
    return {
        **_describe(det),
        "data_terms": DATA_TERMS + (TALKING_HEADS_TERMS if th_trained else ""),
        "evaluation": {
            "command": "make evaluate  (python -m dfcore card --data ../shared/data)",
            "split": "the test split of the training run's identity-disjoint train / calibration / test split "
                     "(seed and fractions from the checkpoint); never trained, calibrated or selected on",
            "split_csvs": csvs,
            "date": dt.date.today().isoformat(),
            "machine": _machine(),
        },
        "error_rates": error_rates(validation),
        "validation": validation,
        "metrics": {
            "ffpp_c23_val": {"unit": "video", "split": "test", "by_frames": _metrics(ffpp["by_frames"]),
                             "auc_change": ffpp.get("auc_change")},
            "dfdc_faces_val": {"unit": "face crop (one frame)", "split": "test", "by_frames": _metrics(dfdc["by_frames"])},
            "talking_heads_val": {"unit": "video", "split": "test", "by_frames": _metrics(th["by_frames"]),
                                  "auc_change": th.get("auc_change")} if th else None,
            "leave_one_method_out": leave_one_out,
        },
        "calibration": {
            "ffpp_c23_val_40_frames": ffpp["by_frames"].get("40", {}).get("reliability", []),
            "dfdc_faces_val": dfdc["by_frames"].get("1", {}).get("reliability", []),
        },
        "limitations": LIMITATIONS[:1] + ([TALKING_HEADS_LIMITATION] if th_trained else []) + LIMITATIONS[1:],
    }


def learnt_talking_heads(det: Detector) -> bool:
    """Whether the weights were trained on talking_heads/ (their card then names its terms and limits)."""
    datasets = ((det.checkpoint.info.get("trained_on") or {}).get("datasets")) or []
    return any(d.startswith("talking_heads/") for d in datasets)


def build_custom_card(weights: str | os.PathLike, val_items: list[LabelledItem],
                      frame_counts: tuple[int, ...] = DEFAULT_FRAME_COUNTS) -> dict:
    """The card of a model trained on a user's data (``dfcore.training.custom``): the shipped card's table,
    measured on the user's validation split; written beside the checkpoint.

    Args:
        weights: the calibrated checkpoint.
        val_items: the validation split (never trained or calibrated on).
        frame_counts: the frame counts to measure at.

    Returns:
        The card as a dict.
    """
    det = load_detector(weights)
    print(f"[{Path(weights).stem}] {len(val_items)} validation items at {list(frame_counts)} frames", flush=True)
    report = evaluate(val_items, frame_counts, det, _printer())
    print(format_table(report), flush=True)
    info = det.checkpoint.info
    real_only = bool((info.get("trained_on") or {}).get("real_only"))
    card = {
        **_describe(det),
        "title": f"{Path(weights).stem}: trained on your data",
        "location": str(weights),
        "base_model": info.get("base_model"),
        "data_terms": "Trained on the user's own data (listed above); its terms are the user's."
                      + (f" The base model was trained on {'; '.join(info['base_data'])}: mind those datasets' "
                         "terms too (the research datasets the shipped models learnt from are for research use only)."
                         if info.get("base_data") else ""),
        "evaluation": {
            "command": info.get("command"),
            "split": "the validation split of this run's train / calibration / validation split; never trained, "
                     "calibrated or selected on",
            "date": dt.date.today().isoformat(),
            "machine": _machine(),
        },
        "metrics": {"validation": {"unit": "item (video or image)", "split": "validation",
                                   "by_frames": _metrics(report["by_frames"]),
                                   "auc_change": report.get("auc_change")}},
        "calibration": {"validation_40_frames": report["by_frames"].get("40", {}).get("reliability", [])},
        "limitations": [f"Warning: {w}." for w in info.get("warnings") or []] + [
                        "Measured on a validation split of the training data's own sources: expect lower accuracy "
                        "on videos from other sources and other manipulation methods."]
                       + (["The data had no fakes: the only fakes it learnt were self-blends, AUC on validation "
                           "is undefined (one class), and the probabilities keep the base model's calibration."]
                          if real_only else []) + LIMITATIONS[1:],  # [0] describes the shipped models' data
    }
    _write_card(Path(weights), card)
    return card


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def _describe(det: Detector) -> dict:
    """What every card says of a checkpoint: its file, architecture, decision rule and training."""
    ck = det.checkpoint
    info = ck.info
    n_params = sum(p.numel() for p in ck.model.parameters())
    teacher = ck.model.config.backbone == "efficientnet_lite0"
    warm = (info.get("trained_on") or {}).get("warm_started_from")  # a later stage of a shipped model
    role = "" if info.get("base_model") else f" (warm-started from `{warm}`)" if warm else " (the teacher)"
    summary = (f"ImageNet-initialised EfficientNet-Lite0 per face crop{role}" if teacher else
               "ResNeXt (grouped-conv bottleneck) CNN per face crop" +
               (", distilled from the teacher" if info.get("teacher") else ""))
    if info.get("base_model"):
        summary += f", fine-tuned from {info['base_model']}"
    calibration = info.get("calibration", {})
    return {
        "name": Path(ck.path).stem,
        "title": ("Deepfake Lens ResNeXt-LSTM" if not teacher else "Deepfake Lens EfficientNet-Lite0-LSTM" if warm
                  else "Deepfake Lens teacher: EfficientNet-Lite0-LSTM"),
        "file": Path(ck.path).name,
        "sha256": ck.sha256,
        "dfcore_version": __version__,
        "architecture": {
            "model_name": ck.model_name,
            "summary": summary + " -> per-frame head; bidirectional LSTM (batch_first) over the sequence -> "
                                 "masked mean -> clip head",
            "parameters": n_params,
            "input_size": ck.preprocess.input_size,
            "model_config": ck.model.config.to_dict(),
            "preprocessing": ck.preprocess.to_dict(),
            "face_detector": "MediaPipe face detection 0.10.21 (full-range, then short-range), subject tracking",
        },
        "decision": {
            "threshold": ck.threshold,
            "t_fake": det.rule.video.fake,
            "t_no_sign": det.rule.video.no_sign,
            "video": det.rule.video.to_dict(),
            "image": det.rule.image.to_dict(),
            "crop": det.rule.thresholds(True, True).to_dict(),
            "three_way": det.rule.three_way,
            "threshold_rule": info.get("threshold_rule"),
            "temperature": ck.temperature,
            "bias": ck.bias,
            "frame_temperature": ck.frame_temperature,
            "calibration": calibration.get("method"),
            "calibration_split_clips": calibration.get("split_clips"),
            "calibration_real_called_fake": calibration.get("calibration_real_called_fake"),
            "calibration_fakes_caught": calibration.get("calibration_fakes_caught"),
            "calibration_pool": (info.get("decision") or {}).get("pool"),
            "calibration_pool_rates": (info.get("decision") or {}).get("calibration_rates"),
            "left_out_checks": (info.get("decision") or {}).get("left_out"),
        },
        "training": {
            "data": info.get("trained_on"),
            "command": info.get("command"),
            "training_s": info.get("training_s"),
            "frame_stage_s": info.get("frame_stage_s"),
            "clip_stage_s": info.get("clip_stage_s"),
            "crop_extraction_s": info.get("crop_extraction_s"),
            "machine": info.get("machine"),
            "teacher": info.get("teacher"),
            "config": info.get("run_config"),
            "monitoring_history": info.get("monitoring_history"),
            "selected_frame_step": info.get("selected_frame_step"),
        },
    }


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _with_interval(row: dict, key: str) -> str:
    """An AUC with its 95% interval when the card has one (cards written before intervals: the AUC alone)."""
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    if row.get(key) is None or low is None or high is None:
        return _fmt(row.get(key))
    return f"{row[key]:.3f} ({low:.2f}–{high:.2f})"


def _auc_change_line(change: dict | None) -> list[str]:
    """The card's line on whether the AUC falls as frames rise (none for a card without the measurement)."""
    sentence = auc_change_sentence(change)
    return ["", sentence] if sentence else []


def _interval_note(by_frames: dict) -> list[str]:
    """The line that says what the bracketed intervals are, when the card has them."""
    return ["", INTERVAL_NOTE] if any(m.get("auc_ci_low") is not None for m in by_frames.values()) else []


def _sha_note(sha256: str | None) -> str:
    """`` (sha256 0123456789ab…)`` for a parent checkpoint whose digest the record holds (older ones do not)."""
    return f" (sha256 {sha256[:12]}…)" if sha256 else ""


def _extraction(seconds: float | None) -> str:
    if seconds is None:
        return "a face-crop extraction whose time this run did not record: it reused cache/"
    return f"{seconds:.0f} s face-crop extraction"


def _video_table(by_frames: dict) -> list[str]:
    lines = ["| frames | AUC | accuracy | real→FAKE | fakes caught | EER | log-loss | ECE | frame AUC | s/video | scored "
             "| no face |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k, m in by_frames.items():
        lines.append(f"| {k} | {_with_interval(m, 'auc')} | {_fmt(m['accuracy'])} | {_fmt(m.get('real_called_fake'))} | "
                     f"{_fmt(m.get('fakes_caught'))} | {_fmt(m['eer'])} | {_fmt(m['log_loss'])} | "
                     f"{_fmt(m['ece'])} | {_with_interval(m, 'frame_auc')} | {_fmt(m['seconds_per_video'])} | "
                     f"{m['n_scored']} | {m['n_no_face']} |")
    return lines


def _reliability(bins: list[dict], where: str) -> list[str]:
    if not any(b.get("count") for b in bins):
        return []
    lines = ["", f"Reliability ({where}, 40 frames):", "",
             "| bin | count | mean predicted | fraction fake |", "|---|---:|---:|---:|"]
    for b in bins:
        if b.get("count"):
            lines.append(f"| {b['lower']:.1f}–{b['upper']:.1f} | {b['count']} | {_fmt(b['mean_predicted'])} | "
                         f"{_fmt(b['fraction_fake'])} |")
    return lines


def _decision_line(dec: dict) -> str:
    """The card's decision rule in one line: one threshold (older cards) or two."""
    cal = (f"calibration: {dec['calibration']} (clip: T = {dec['temperature']:.3f}, bias {dec.get('bias', 0.0):+.3f}; "
           f"frame: T = {dec['frame_temperature']:.3f})")
    video = dec.get("video")
    if not video or not dec.get("three_way", True):
        return (f"- Decision: FAKE when the calibrated clip probability ≥ **{dec['threshold']:.3f}** "
                f"({dec['threshold_rule']}); {cal}")
    band = " (the two cross: no UNCERTAIN band)" if video.get("crossed") else ""
    image, crop = dec["image"], dec.get("crop") or dec["image"]
    return (f"- Decision: **FAKE** at a calibrated fake probability ≥ **{_pct_iv(video, 't_fake')}**, **NO SIGN FOUND** "
            f"below **{_pct_iv(video, 't_no_sign')}**, **UNCERTAIN** between{band} or when the evidence is thin; still "
            f"photos: FAKE ≥ {_pct_iv(image, 't_fake')}, NO SIGN below {_pct_iv(image, 't_no_sign')}; small face "
            f"crops: FAKE ≥ {_pct_iv(crop, 't_fake')}, NO SIGN below {_pct_iv(crop, 't_no_sign')} "
            f"({dec['threshold_rule']}); {cal}")


def _pct_iv(t: dict, key: str) -> str:
    iv = t.get(f"{key}_interval")
    return f"{t[key]:.1%}" + (f" (95% interval {iv[0]:.1%}–{iv[1]:.1%})" if iv else "")


def _rates_cells(rates: dict | None) -> str:
    if not rates:
        return "– | – | – | –"
    return f"{rates['n']} | " + " | ".join(
        f"{rates[o]['rate']:.0%} ({rates[o]['ci'][0]:.0%}–{rates[o]['ci'][1]:.0%})" for o in OUTCOMES)


def _rates_table(by: dict, first: str) -> list[str]:
    lines = [f"| {first} | reals | → FAKE | → UNCERTAIN | → NO SIGN | fakes | → FAKE | → UNCERTAIN | → NO SIGN |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in by.items():
        if r:
            lines.append(f"| {name} | {_rates_cells(r.get('real'))} | {_rates_cells(r.get('fake'))} |")
    return lines


def _verdict_section(card: dict) -> list[str]:
    """Verdict rates on the validation pool, per source and per frame count, and the left-out-source checks."""
    val = card.get("validation")
    if not val:
        return []
    lines = ["## Verdicts (validation pool, measured by the command above)", "",
             f"Shares of real and of fake items given each verdict at {val['frames']} frames, with 95% bootstrap "
             f"intervals; \"all\" weighs the domains ({', '.join(val['domains'])}) equally:", ""]
    lines += _rates_table(val["by_source"], "source")
    if val.get("images"):
        lines += ["", "Still photos (stills cut from the test clips; the photos' thresholds):", ""]
        lines += _rates_table(val["images"], "source")
    if val.get("crops"):
        lines += ["", "Small face crops (DFDC face crops of other videos, one frame each; the crops' thresholds):", ""]
        lines += _rates_table(val["crops"], "source")
    lines += ["", "All video domains, per frame count:", ""]
    lines += _rates_table({f"{k} frames": r for k, r in val["by_frames"].items()}, "analysed")
    left = card["decision"].get("left_out_checks") or {}
    if left:
        lines += ["", "Does the rule transfer? Calibrated with one source left out, the rates on that source "
                  f"(calibration split, {val['frames']} frames):", ""]
        lines += _rates_table({f"{k} (t_fake {v['thresholds_without_it']['t_fake']:.0%}, t_no_sign "
                               f"{v['thresholds_without_it']['t_no_sign']:.0%})": v["rates_on_it"]
                               for k, v in left.items()}, "left out")
    pool = card["decision"].get("calibration_pool") or {}
    if pool:
        lines += ["", "Calibration pool: " + "; ".join(
            f"{d}: " + ", ".join(f"{src} {c['real']}+{c['fake']}" for src, c in by.items()) for d, by in pool.items())
            + " (real+fake)."]
    return lines + [""]


_MONITORED = {"ffpp_calib_frame_auc": "FF++ faces", "dfdc_calib_frame_auc": "DFDC crops",
              "th_calib_frame_auc": "talking-head faces"}


def render_markdown(card: dict) -> str:
    """NAME.card.md from the card JSON (so the two can never disagree)."""
    arch, dec, tr, ev = card["architecture"], card["decision"], card["training"], card["evaluation"]
    lines = [
        f"# Model card: {card.get('title', card['name'])} (`{card['name']}`)",
        "",
        *([f"**Withdrawn: not offered for analysis.** {card[WITHDRAWN_KEY]}", ""] if card.get(WITHDRAWN_KEY) else []),
        f"*Generated by `{ev['command']}` on {ev['date']} — do not edit by hand.*",
        "",
        f"- File: `{card.get('location') or 'weights/' + card['file']}` (sha256 `{card['sha256']}`), dfcore {card['dfcore_version']}",
        f"- Architecture: {arch['summary']}; {arch['parameters']:,} parameters; "
        f"{arch['input_size']}×{arch['input_size']} px face crops (margin {arch['preprocessing']['margin']})",
        f"- Faces: {arch['face_detector']}",
        _decision_line(dec),
    ]
    default = card.get("default_model")
    if default:
        lines.append(f"- Default model: **{'yes' if default['is_default'] else 'no'}**; the default is "
                     f"`{default['default']}` because {default['why']}")
    if dec.get("calibration_real_called_fake") is not None and not dec.get("calibration_pool"):
        caught = dec.get("calibration_fakes_caught")
        lines.append(f"- On the calibration split ({dec.get('calibration_split_clips')}): "
                     f"{dec['calibration_real_called_fake']:.1%} of real clips called FAKE"
                     + (f", {caught:.1%} of fakes caught" if caught is not None else "")
                     + " (all slider frame counts pooled)")
    lines += ["", "## Training data and terms", ""]
    data = tr.get("data") or {}
    for d in data.get("datasets", []):
        lines.append(f"- {d}")
    lines += [
        f"- Split: {data.get('split')}; sizes {data.get('sizes')}",
        f"- Synthesised: {data.get('synthesised')}",
    ]
    if card.get("base_model"):
        lines.append(f"- Started from: {card['base_model']}")
    if data.get("pretrained"):
        lines.append(f"- Initialised from: {data['pretrained']}")
    if data.get("distilled_from"):
        lines.append(f"- Distilled from: `{data['distilled_from']}`{_sha_note(data.get('distilled_from_sha256'))} "
                     "(its per-frame and clip probabilities as soft targets, its features as hints), plus the labels")
    lines += [
        "",
        card["data_terms"],
        "",
        f"Trained with `{tr.get('command')}` in {_fmt(tr.get('training_s'))} s "
        f"(frame stage {_fmt(tr.get('frame_stage_s'))} s, clip stage {_fmt(tr.get('clip_stage_s'))} s; "
        f"+ {_extraction(tr.get('crop_extraction_s'))}) on {tr.get('machine')}.",
        "",
    ]
    cfg = tr.get("config") or {}
    if tr.get("selected_frame_step") is not None:
        # The monitoring history names the calibration sets the step was chosen on (talking heads when trained on).
        history = tr.get("monitoring_history") or [{}]
        sets = [_MONITORED[k] for k in history[0] if k in _MONITORED] or ["FF++ faces", "DFDC crops"]
        on = " and ".join([", ".join(sets[:-1]), sets[-1]] if len(sets) > 1 else sets)
        lines[-1:-1] = [f"The frame stage kept the weights of step {tr['selected_frame_step']} of "
                        f"{cfg.get('frame_steps')}, the best mean frame AUC on the calibration split ({on}); the "
                        "test split never takes part in training or selection."]
    parent = ((tr.get("data") or {}).get("warm_started_from"))
    if parent:
        frozen = ", ".join(cfg.get("frozen_stages") or []) or "nothing"
        lines[-1:-1] = [f"Lineage: every weight started from `{parent}`{_sha_note(tr['data'].get('warm_started_from_sha256'))}"
                        " (its card gives its own training and time); "
                        f"this stage kept {frozen} frozen and trained the rest at learning rate {cfg.get('lr')}."]
    if "validation" in card["metrics"]:
        lines += ["## Metrics (validation split, measured by the command above)", "",
                  "The validation split, item level (\"real→FAKE\" and \"fakes caught\" at the threshold above):", ""]
        lines += _video_table(card["metrics"]["validation"]["by_frames"])
        lines += _auc_change_line(card["metrics"]["validation"].get("auc_change"))
        lines += _interval_note(card["metrics"]["validation"]["by_frames"])
        lines += _reliability(card["calibration"].get("validation_40_frames", []), "validation split")
        lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]] + [""]
        return "\n".join(lines)
    lines += _verdict_section(card)
    lines += ["## Metrics (test split, measured by the command above)", "",
              "FaceForensics++ c23 test split, video level (\"real→FAKE\" and \"fakes caught\" at the threshold above):",
              ""]
    lines += _video_table(card["metrics"]["ffpp_c23_val"]["by_frames"])
    lines += _auc_change_line(card["metrics"]["ffpp_c23_val"].get("auc_change"))
    th = card["metrics"].get("talking_heads_val")
    if th:  # cards since the talking-head split: the limitations point at this table
        lines += ["", "Talking-head clips, test split (webcam, interview and studio reals; live face swaps and heads "
                  "generated from one photo), video level:", ""]
        lines += _video_table(th["by_frames"])
        lines += _auc_change_line(th.get("auc_change"))
    lines += ["", "DFDC face crops, test split (one frame each; another dataset than FF++):", "",
              "| AUC (clip head) | frame AUC (frame head) | accuracy | EER | log-loss | ECE | scored | no face |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in card["metrics"]["dfdc_faces_val"]["by_frames"].values():
        lines.append(f"| {_with_interval(m, 'auc')} | {_with_interval(m, 'frame_auc')} | {_fmt(m['accuracy'])} | "
                     f"{_fmt(m['eer'])} | {_fmt(m['log_loss'])} | {_fmt(m['ece'])} | {m['n_scored']} | "
                     f"{m['n_no_face']} |")
    loo = card["metrics"].get("leave_one_method_out")
    lines += ["", "Leave one method out (a manipulation method the detector never saw):", ""]
    if loo:
        lines.append(f"- {loo['recipe']} (`{loo['checkpoint']}`), scored on {loo['scored_on']} at {loo['frames']} "
                     f"frames: video AUC **{_with_interval(loo, 'auc')}**, frame AUC {_fmt(loo['frame_auc'])}")
    else:
        lines.append("- not measured: `weights/loo/` holds no leave-one-method-out checkpoint")
    lines += _interval_note(card["metrics"]["ffpp_c23_val"]["by_frames"])
    lines += _reliability(card["calibration"]["ffpp_c23_val_40_frames"], "FF++ test split")
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]] + [""]
    return "\n".join(lines)
