"""dfcore.FeatureMemory: a crop met again is not run through the CNN again, and the scores do not change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dfcore import FeatureMemory, load_detector
from dfcore.analyze import prepare_clip, remember_features, score_clip
from dfcore.media.clip_memory import ClipMemory
from dfcore.models.explain import ExplainOptions
from dfcore.models.feature_memory import CropOutputs


@pytest.fixture(scope="module", params=["torch", "onnx"])
def any_detector(request: pytest.FixtureRequest, checkpoint: Path):
    return load_detector(checkpoint, device="cpu", runtime=request.param)


def _counting(det, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many crops each CNN call gets."""
    seen: list[int] = []
    real = det._features
    monkeypatch.setattr(det, "_features", lambda crops, stage: seen.append(len(crops)) or real(crops, stage))
    return seen


@pytest.mark.parametrize("stage", [None, "layer4"])
def test_scores_from_memory_equal_the_scores_without_it(any_detector, random_crops: np.ndarray,
                                                        monkeypatch: pytest.MonkeyPatch, stage: str | None) -> None:
    det = any_detector
    plain = det.score(random_crops, keep_stage=stage)
    memory = FeatureMemory()
    det.score(random_crops[1:4], keep_stage=stage, memory=memory)  # three of the six met first
    cnn = _counting(det, monkeypatch)
    again = det.score(random_crops, keep_stage=stage, memory=memory)
    assert cnn == [3], "only the three crops not met before went through the CNN"
    assert again.clip_logit == plain.clip_logit
    np.testing.assert_array_equal(again.frame_probabilities, plain.frame_probabilities)
    if stage is None:
        assert again.stage_maps is None
    else:
        assert torch.equal(again.stage_maps, plain.stage_maps)
    det.score(random_crops[::-1].copy(), keep_stage=stage, memory=memory)
    assert cnn == [3], "every crop is known now, in any order"
    assert len(memory) == 6


def test_a_stage_is_part_of_the_key(detector, random_crops: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = FeatureMemory()
    detector.score(random_crops, memory=memory)
    cnn = _counting(detector, monkeypatch)
    scores = detector.score(random_crops, keep_stage="layer3", memory=memory)
    assert cnn == [6], "features alone do not give Grad-CAM its maps"
    assert scores.stage_maps is not None and scores.stage_maps.shape[0] == 6


def test_one_memory_serves_one_detector(checkpoint: Path, random_crops: np.ndarray) -> None:
    memory = FeatureMemory()
    load_detector(checkpoint, device="cpu", runtime="torch").score(random_crops, memory=memory)
    other_runtime = load_detector(checkpoint, device="cpu", runtime="onnx")
    with pytest.raises(ValueError, match="keep one per model"):
        other_runtime.score(random_crops, memory=memory)


def test_least_recently_used_crops_go_first() -> None:
    item = CropOutputs(torch.zeros(256), None)  # 1 KB
    memory = FeatureMemory(max_bytes=3 * 1024)
    keys = FeatureMemory.keys(np.arange(4 * 12, dtype=np.uint8).reshape(4, 2, 2, 3), None)
    for k in keys[:3]:
        memory.put(k, item)
    memory.get([keys[0]])  # used again: the second is now the oldest
    memory.put(keys[3], item)
    assert [v is not None for v in memory.get(keys)] == [True, False, True, True]
    assert memory.nbytes == 3 * 1024
    with pytest.raises(ValueError):
        FeatureMemory(max_bytes=0)


def test_the_slider_top_prepared_ahead_runs_no_cnn_when_moved_to(detector, face_video: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clips, features = ClipMemory(), FeatureMemory()
    explain = ExplainOptions(layer="layer4")
    first = score_clip(prepare_clip(face_video, 10, memory=clips, prefetch=30), detector, explain=explain,
                       features=features)
    assert first.verdict
    top = prepare_clip(face_video, 30, memory=clips)
    ran = remember_features(top, detector, features, explain)
    assert 0 < ran <= 30
    assert remember_features(top, detector, features, explain) == 0, "a second call finds every crop kept"
    cnn = _counting(detector, monkeypatch)
    moved = score_clip(top, detector, explain=explain, features=features)
    assert cnn == [], "the move ran only the LSTM and Grad-CAM"
    monkeypatch.undo()
    plain = score_clip(top, detector, explain=explain)
    assert moved.fake_probability == plain.fake_probability
    assert [f.fake_probability for f in moved.frames] == [f.fake_probability for f in plain.frames]
    for a, b in zip(moved.cams, plain.cams):
        assert (a is None) == (b is None) and (a is None or np.array_equal(a, b))
