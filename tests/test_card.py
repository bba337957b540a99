"""dfcore.card: the model card built from (hand-made) evaluation results and rendered to Markdown.

The detector is an in-memory, randomly initialised tiny model: only its metadata
(threshold, temperatures, hash, training info) reaches the card. The evaluation
numbers come from hand-chosen scores, so the expected table cells can be worked
out by hand.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from dfcore.card import DATA_TERMS, LIMITATIONS, _card, render_markdown
from dfcore.checkpoint import Checkpoint
from dfcore.detector import Detector
from dfcore.evaluate import VideoScores, summarize_by_frames
from dfcore.model import create_model
from dfcore.preprocessing import PreprocessConfig
from dfcore.train import TrainConfig, _jsonable

THRESHOLD = 0.42
SHA = "ab" * 32


def _videos() -> list[VideoScores]:
    """FF++-like: at 10 frames reals score 0.2, 0.6 and fakes 0.7, 0.4 (AUC 3/4, accuracy 1/2 at 0.42);
    at 40 frames the ranking is perfect (0.1, 0.3 vs 0.8, 0.9). One more clip has no face at 10 frames."""
    def v(path, label, s10, s40):
        return VideoScores(path, label, {"10": s10, "40": s40},
                           {"10": [] if s10 is None else [s10, s10], "40": [s40] * 3},
                           {"10": 0.5, "40": 1.5})
    return [v("r1.mp4", "real", 0.2, 0.1), v("r2.mp4", "real", 0.6, 0.3),
            v("f1.mp4", "fake", 0.7, 0.8), v("f2.mp4", "fake", 0.4, 0.9),
            v("f3.mp4", "fake", None, 0.95)]


def _dfdc_videos() -> list[VideoScores]:
    # Reals 0.1, 0.5; fakes 0.3, 0.9 -> AUC 3/4.
    return [VideoScores(p, lab, {"1": s}, {"1": [s]}, {"1": 0.2})
            for p, lab, s in (("a.jpg", "real", 0.1), ("b.jpg", "real", 0.5), ("c.jpg", "fake", 0.3),
                              ("d.jpg", "fake", 0.9))]


@pytest.fixture(scope="module")
def card() -> dict:
    torch.manual_seed(0)
    model = create_model("resnext_compact_lstm", stem_width=8, stage_planes=(4, 8, 8, 8),
                         stage_blocks=(1, 1, 1, 1), cardinality=4, lstm_hidden=8).eval()
    cfg = TrainConfig()
    info = {
        "trained_on": {
            "datasets": ["FaceForensics++ c23 (Rossler et al., ICCV 2019)", "DFDC face crops (Dolhansky et al., 2020)"],
            "terms": "research use only; the data is not redistributed with this project",
            "split": "identity-disjoint: FF++ fakes grouped with both identities, DFDC fakes with their original",
            "sizes": {"ffpp_train": 80, "ffpp_val": 26},
            "synthesised": "self-blended pseudo-fakes (dfcore.blend) of real training faces, 50% of fake examples",
        },
        "train_config": _jsonable(cfg),
        "command": "make train  (python -m dfcore train --data ../shared/data)",
        "crop_extraction_s": 120.5,
        "training_s": 4321.0,
        "best_step": 2250,
        "validation_history": [{"step": 2250, "score": 0.8}],
        "calibration": {"method": "temperature scaling on the validation split", "temperature": 1.7,
                        "frame_temperature": 1.3},
        "threshold_rule": "equal-error-rate threshold of the calibrated clip probability on the validation split",
        "machine": "x86_64, 2 CPU cores",
    }
    ck = Checkpoint(model, "resnext_compact_lstm", PreprocessConfig(), threshold=THRESHOLD, temperature=1.7,
                    bias=-0.25, frame_temperature=1.3, sha256=SHA, path="weights/test_model.pt", info=info)
    det = Detector(ck, device="cpu")
    ffpp = {"by_frames": summarize_by_frames(_videos(), (10, 40), THRESHOLD)}
    dfdc = {"by_frames": summarize_by_frames(_dfdc_videos(), (1,), THRESHOLD)}
    return _card(det, cfg, ffpp, dfdc, {"ffpp_val": "runs/card/splits/ffpp_val.csv"})


def test_card_structure_and_json(card: dict) -> None:
    json.dumps(card)  # the card is written as JSON as is
    assert card["sha256"] == SHA
    assert card["file"] == "test_model.pt"  # named after the checkpoint actually evaluated
    assert card["decision"]["threshold"] == THRESHOLD
    assert card["decision"]["temperature"] == 1.7 and card["decision"]["frame_temperature"] == 1.3
    assert card["data_terms"] == DATA_TERMS
    by10 = card["metrics"]["ffpp_c23_val"]["by_frames"]["10"]
    assert "reliability" not in by10  # kept under "calibration" instead
    assert by10["auc"] == pytest.approx(0.75) and by10["accuracy"] == pytest.approx(0.5)
    assert (by10["n_scored"], by10["n_no_face"]) == (4, 1)
    assert card["calibration"]["ffpp_c23_val_40_frames"]  # the 40-frame reliability table
    assert sum(b["count"] for b in card["calibration"]["ffpp_c23_val_40_frames"]) == 5
    assert card["architecture"]["parameters"] == sum(p.numel() for p in card_model_params(card))


def card_model_params(card: dict):
    # Rebuild the tiny model from the card's recorded config: its parameter count must match.
    cfg = card["architecture"]["model_config"]
    return create_model("resnext_compact_lstm", **{k: v for k, v in cfg.items()}).parameters()


def test_markdown_metrics_rows(card: dict) -> None:
    md = render_markdown(card)
    lines = md.splitlines()
    row10 = next(line for line in lines if line.startswith("| 10 |"))
    cells = [c.strip() for c in row10.strip("|").split("|")]
    # frames, AUC, accuracy, EER, log-loss, ECE, frame AUC, s/video, scored, no face
    assert cells[0] == "10"
    assert cells[1] == "0.750" and cells[2] == "0.500"
    assert cells[7] == "0.500"  # seconds per video
    assert cells[8:] == ["4", "1"]
    row40 = next(line for line in lines if line.startswith("| 40 |"))
    cells40 = [c.strip() for c in row40.strip("|").split("|")]
    assert cells40[1] == "1.000" and cells40[3] == "0.000"  # perfect ranking: AUC 1, EER 0
    assert cells40[8:] == ["5", "0"]
    # DFDC row: AUC 3/4 (clip head), 4 scored, none without a face.
    dfdc_header = lines.index("| AUC (clip head) | frame AUC (frame head) | accuracy | EER | log-loss | ECE | scored | no face |")
    dfdc_row = [c.strip() for c in lines[dfdc_header + 2].strip("|").split("|")]
    assert dfdc_row[0] == "0.750" and dfdc_row[-2:] == ["4", "0"]


def test_markdown_header_terms_and_limitations(card: dict) -> None:
    md = render_markdown(card)
    assert md.startswith("# Model card: ")
    assert SHA in md
    assert "**0.420**" in md  # the decision threshold
    assert "clip: T = 1.700, bias -0.250; frame: T = 1.300" in md
    assert DATA_TERMS in md
    assert "research use only" in md.lower()
    for d in card["training"]["data"]["datasets"]:
        assert f"- {d}" in md
    for limitation in LIMITATIONS:
        assert f"- {limitation}" in md
    assert "4321.000 s of optimisation" in md and "best validation step 2250" in md
    # Reliability rows only for non-empty bins; their counts add up to the clips scored at 40 frames.
    rel_rows = [line for line in md.splitlines() if line.startswith("| 0.") and "–" in line.split("|")[1]]
    assert sum(int(r.split("|")[2]) for r in rel_rows) == 5


def test_markdown_has_no_none_for_present_values(card: dict) -> None:
    md = render_markdown(card)
    assert "None" not in md
    assert not re.search(r"\bnan\b", md, re.IGNORECASE)


def test_markdown_shows_missing_values_as_dash(card: dict) -> None:
    c = json.loads(json.dumps(card))
    c["training"]["training_s"] = None
    c["metrics"]["ffpp_c23_val"]["by_frames"]["10"]["frame_auc"] = None
    md = render_markdown(c)
    assert "Trained with" in md and "in – s of optimisation" in md
    row10 = next(line for line in md.splitlines() if line.startswith("| 10 |"))
    assert row10.split("|")[7].strip() == "–"
