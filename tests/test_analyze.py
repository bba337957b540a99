"""dfcore.analyze: the whole pipeline on generated clips.

The detector is the session's UNTRAINED checkpoint, so verdicts and
probabilities are checked for form (range, schema, alignment), never for
being right.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dfcore.analyze import analyze_video
from dfcore.decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, verdict_from
from dfcore.errors import InputNotFoundError, UnsupportedFormatError, VideoDecodeError
from dfcore.models.explain import ExplainOptions

N = 8


@pytest.fixture(scope="module")
def face_result(face_video: Path, detector):
    return analyze_video(face_video, N, detector=detector)


@pytest.fixture(scope="module")
def explained_result(face_video: Path, detector):
    return analyze_video(face_video, 4, detector=detector, explain=True)


def test_face_video_result(face_result, detector, face_video: Path) -> None:
    r = face_result
    assert r.path == str(face_video)
    assert r.verdict in (FAKE, UNCERTAIN, NO_SIGN)
    assert 0.0 <= r.fake_probability <= 1.0
    thin = [x for x in r.decision.reasons if x != "between_thresholds"]
    assert (r.verdict, r.decision.reasons) == verdict_from(r.fake_probability, detector.rule.video, thin)
    assert r.threshold == detector.threshold and r.t_no_sign == detector.rule.video.no_sign
    assert r.to_dict()["schema_version"] == 2 and r.to_dict()["verdict"] == r.verdict
    assert r.n_frames_requested == N and len(r.frames) == N
    assert r.n_faces == N  # the astronaut is in every frame
    assert r.notes == []
    assert r.model_name == detector.name and r.model_sha256 == detector.sha256
    times = [f.time_s for f in r.frames]
    assert times == sorted(times) and times[0] < 0.3 and times[-1] > 1.7
    for f in r.frames:
        assert 0.0 <= f.fake_probability <= 1.0
        x, y, w, h = f.box
        assert 0 <= x and 0 <= y and x + w <= 320 and y + h <= 240 and w > 30 and h > 30


def test_face_video_evidence_is_aligned(face_result, detector) -> None:
    r = face_result
    s = detector.preprocess.input_size
    assert len(r.images) == len(r.crops) == len(r.frames)
    for img, crop in zip(r.images, r.crops):
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        assert crop.shape == (s, s, 3) and crop.dtype == np.uint8
    assert r.cams is None and r.cam_layer is None  # explain was off
    assert "explain" not in r.timings_s


def test_scores_are_the_detectors(face_result, detector) -> None:
    # The pipeline's numbers are the detector's scores of the crops it shows.
    scores = detector.score(np.stack(face_result.crops))
    assert face_result.fake_probability == pytest.approx(scores.clip_probability, abs=1e-6)
    np.testing.assert_allclose([f.fake_probability for f in face_result.frames], scores.frame_probabilities,
                               atol=1e-6)


def test_timings(face_result) -> None:
    t = face_result.timings_s
    assert {"decode", "detect", "crop", "model", "total"} <= set(t)
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= t["decode"] + t["detect"] + t["crop"] + t["model"] - 1e-6


def test_explain(explained_result) -> None:
    r = explained_result
    assert "explain" in r.timings_s
    assert r.cam_layer == "layer4"
    assert len(r.cams) == len(r.crops) == 4
    for cam, crop in zip(r.cams, r.crops):
        assert cam.shape == crop.shape[:2] and cam.dtype == np.float32
        assert 0.0 <= cam.min() and cam.max() <= 1.0
    assert max(float(c.max()) for c in r.cams) > 0.5


def test_explain_options_layer(one_frame_video: Path, detector) -> None:
    r = analyze_video(one_frame_video, 1, detector=detector, explain=ExplainOptions(layer="layer2"))
    assert r.cam_layer == "layer2"
    assert len(r.cams) == 1 and r.cams[0].shape == (112, 112)


def test_to_dict_schema(face_result, face_video: Path) -> None:
    d = face_result.to_dict()
    json.dumps(d)  # plain JSON types only
    assert {"verdict", "fake_probability", "threshold", "n_frames", "frames", "timings_s", "model"} <= set(d)
    assert d["verdict"] == face_result.verdict
    assert d["fake_probability"] == face_result.fake_probability
    assert d["n_frames"] == N == len(d["frames"])
    assert d["n_frames_with_face"] == N
    assert {"name", "sha256", "file", "version", "runtime"} <= set(d["model"]) and len(d["model"]["sha256"]) == 64
    assert d["model"]["runtime"] == face_result.runtime == "onnx", "ONNX Runtime is installed: the default"
    assert {"decode", "detect", "crop", "model", "total"} <= set(d["timings_s"])
    for f, fr in zip(d["frames"], face_result.frames):
        assert set(f) == {"index", "time_s", "face_box", "fake_probability"}
        assert f["index"] == fr.index and f["time_s"] == pytest.approx(fr.time_s, abs=1e-4)
        assert f["face_box"] == list(fr.box)  # no downscale at 320x240: same pixels
        assert f["fake_probability"] == fr.fake_probability
    assert d["video"]["width"] == 320 and d["video"]["height"] == 240 and d["video"]["kind"] == "video"


def test_face_boxes_reported_in_video_pixels(face_video: Path, detector) -> None:
    # Analysed at half size, the JSON still gives boxes in the stored video's pixels.
    full = analyze_video(face_video, 2, detector=detector).to_dict()
    half = analyze_video(face_video, 2, detector=detector, max_side=160)
    assert half.images[0].shape == (120, 160, 3)
    assert half.image_scale == pytest.approx(2.0)
    for f_full, f_half in zip(full["frames"], half.to_dict()["frames"]):
        assert f_half["face_box"] is not None
        assert np.abs(np.subtract(f_half["face_box"], f_full["face_box"])).max() <= 12


def test_blank_video_is_no_face(blank_video: Path, detector) -> None:
    r = analyze_video(blank_video, 5, detector=detector, explain=True)
    assert r.verdict == NO_FACE
    assert r.fake_probability is None
    assert len(r.frames) == 5 and r.n_faces == 0
    assert all(f.box is None and f.fake_probability is None for f in r.frames)
    assert all(c is None for c in r.crops)
    assert r.cams is None  # nothing to explain
    assert any("No face" in n for n in r.notes)
    d = r.to_dict()
    json.dumps(d)
    assert d["verdict"] == "NO_FACE" and d["fake_probability"] is None
    assert all(f["face_box"] is None and f["fake_probability"] is None for f in d["frames"])


def test_one_frame_video(one_frame_video: Path, detector) -> None:
    r = analyze_video(one_frame_video, 10, detector=detector)
    assert len(r.frames) == 1 and r.n_faces == 1
    # One distinct frame of a video is thin evidence (a still image would be judged on its face).
    assert r.verdict == UNCERTAIN and "few_face_frames" in r.decision.reasons
    assert any("only 1 distinct frame" in n for n in r.notes)


def test_face_image(face_image: Path, detector) -> None:
    r = analyze_video(face_image, 20, detector=detector)
    assert len(r.frames) == 1 and r.n_faces == 1
    assert r.verdict in (FAKE, UNCERTAIN, NO_SIGN) and 0 <= r.fake_probability <= 1
    assert r.video.kind == "image" and r.is_image
    assert "few_face_frames" not in r.decision.reasons  # an image is judged on its one face, not as a thin video
    assert any("still image" in n for n in r.notes)


def test_progress_reports_stages_in_order(face_video: Path, detector) -> None:
    calls: list[tuple[str, float]] = []
    analyze_video(face_video, 3, detector=detector, explain=True, progress=lambda s, f: calls.append((s, f)))
    stages = [s for s, _ in calls]
    assert stages == ["decoding", "finding faces", "scoring", "explaining", "done"]
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_progress_without_explain(blank_video: Path, detector) -> None:
    calls: list[str] = []
    analyze_video(blank_video, 2, detector=detector, progress=lambda s, f: calls.append(s))
    assert calls == ["decoding", "finding faces", "scoring", "done"]


@pytest.mark.parametrize("n", [0, -1, 301])
def test_n_frames_out_of_range(face_video: Path, detector, n: int) -> None:
    with pytest.raises(ValueError, match="n_frames"):
        analyze_video(face_video, n, detector=detector)


def test_bad_inputs_raise_typed_errors(tmp_path: Path, corrupt_video: Path, unsupported_file: Path,
                                       detector) -> None:
    with pytest.raises(InputNotFoundError):
        analyze_video(tmp_path / "missing.mp4", 5, detector=detector)
    with pytest.raises(UnsupportedFormatError):
        analyze_video(unsupported_file, 5, detector=detector)
    with pytest.raises(VideoDecodeError):
        analyze_video(corrupt_video, 5, detector=detector)


def test_fake_clips_analyse(fake_videos: list[Path], detector) -> None:
    # The manipulated samples go through the same pipeline (their faces are found).
    for path in fake_videos:
        r = analyze_video(path, 3, detector=detector)
        assert r.n_faces == 3 and r.verdict == UNCERTAIN  # 3 faces: too few to judge
