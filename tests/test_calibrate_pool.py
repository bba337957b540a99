"""dfcore.training.calibrate.calibrate_on_pool: three-outcome calibration on a pool of domains, through the full pipeline.

The checkpoint is a tiny UNTRAINED model and the pool the generated sample clips split into two made-up
domains (plus the still as a one-image domain): the test is about the rule, the stored record and the
rewritten file, not about what the model detects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfcore.analyze import analyze_video
from dfcore.decision import FAKE, NO_SIGN, UNCERTAIN
from dfcore.models.checkpoint import MANIFEST_NAME, load_checkpoint, read_manifest, sha256_file
from dfcore.models.detector import Detector
from dfcore.synth.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, WARP_CLIP
from dfcore.training.calibrate import calibrate_on_pool
from dfcore.training.sources.items import LabelledItem

from test_calibrate import _uncalibrated

FRAME_COUNTS = (8, 10)  # at least 8 frames with a face: fewer is thin evidence, which sets no threshold


def _pool(sample_dir: Path) -> dict[str, list[LabelledItem]]:
    item = lambda name, label, source: LabelledItem(sample_dir / name, label, ("astronaut",), source)  # noqa: E731
    return {
        "one": [item(REAL_CLIP, 0, "one/real"), item(SELFBLEND_CLIP, 1, "one/selfblend")],
        "two": [item(REAL_CLIP, 0, "two/real"), item(WARP_CLIP, 1, "two/warp")],
        "stills": [item(REAL_STILL, 0, "stills/real"), item(REAL_STILL, 1, "stills/fake")],
    }


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> tuple[Path, dict, str]:
    path = _uncalibrated(tmp_path_factory.mktemp("pool"))
    before = sha256_file(path)
    return path, calibrate_on_pool(path, _pool(sample_dir), ("stills",), FRAME_COUNTS), before


def test_the_checkpoint_carries_both_thresholds_and_the_pool(calibrated: tuple[Path, dict, str]) -> None:
    path, record, before = calibrated
    ck = load_checkpoint(path)
    assert ck.sha256 != before and read_manifest(path.parent / MANIFEST_NAME) == {path.name: ck.sha256}
    assert ck.info["decision"] == record and ck.info["run_config"] == {"name": "model"}
    video = record["video"]
    assert video["t_no_sign"] <= video["t_fake"] == ck.threshold
    lo, hi = video["t_fake_interval"]
    assert lo <= video["t_fake"] <= hi
    assert set(record["video_scores"]) == {"one", "two"} and set(record["image_scores"]) == {"stills"}
    assert set(record["image_calibration"]) == {"temperature", "bias"}
    assert record["pool"]["one"] == {"one/real": {"real": 1, "fake": 0}, "one/selfblend": {"real": 0, "fake": 1}}
    assert set(record["left_out"]) <= {"dfdc", "ffpp/Deepfakes", "talking_heads/DeepFaceLive"}
    assert set(record["calibration_rates"]) == {"video", "image"}  # no crop domain in this pool
    assert record["crop"] is None  # no crop domain: crops are judged as photos
    rates = record["calibration_rates"]["video"]
    for lab in ("real", "fake"):
        assert sum(rates[lab][o]["rate"] for o in (FAKE, UNCERTAIN, NO_SIGN)) == pytest.approx(1.0)


def test_the_rule_holds_when_the_pool_is_analysed_again(calibrated: tuple[Path, dict, str], sample_dir: Path) -> None:
    path, record, _ = calibrated
    det = Detector(load_checkpoint(path), device="cpu")
    assert det.rule.three_way and det.rule.video.fake == record["video"]["t_fake"]
    reals = [analyze_video(sample_dir / REAL_CLIP, k, detector=det) for k in FRAME_COUNTS]
    # 5% of the pool's reals may be called FAKE: with two real domains of 2 scores each, none may.
    assert all(r.fake_probability < det.threshold for r in reals)
    assert all(r.verdict != FAKE for r in reals)
    r = reals[-1]
    assert r.rarity is not None and "of real videos in calibration score this high" in r.rarity
    assert r.to_dict()["decision"]["t_no_sign"] == det.rule.video.no_sign


def test_recalibrating_sets_the_old_calibration_aside(calibrated: tuple[Path, dict, str], sample_dir: Path) -> None:
    path, record, _ = calibrated
    again = calibrate_on_pool(path, _pool(sample_dir), ("stills",), FRAME_COUNTS)
    assert again["video"] == record["video"]  # the same raw scores, the same rule: not a calibration of a calibration


def test_a_pool_without_fakes_is_refused_and_the_file_kept(tmp_path: Path, sample_dir: Path) -> None:
    path = _uncalibrated(tmp_path)
    digest = sha256_file(path)
    reals = {"one": [LabelledItem(sample_dir / REAL_CLIP, 0, ("a",), "one/real")]}
    with pytest.raises(ValueError):
        calibrate_on_pool(path, reals, (), FRAME_COUNTS[:1])
    assert sha256_file(path) == digest


def test_a_still_image_gets_its_own_calibration_and_thresholds(calibrated: tuple[Path, dict, str],
                                                              sample_dir: Path) -> None:
    path, record, _ = calibrated
    det = Detector(load_checkpoint(path), device="cpu")
    r = analyze_video(sample_dir / REAL_STILL, 1, detector=det)
    raw = det.score(np.stack([c for c in r.crops if c is not None]))
    t, b = record["image_calibration"]["temperature"], record["image_calibration"]["bias"]
    assert r.fake_probability == pytest.approx(1 / (1 + np.exp(-(raw.clip_logit / t + b))))
    assert (r.threshold, r.t_no_sign) == (record["image"]["t_fake"], record["image"]["t_no_sign"])
    assert "real face images" in (r.rarity or "")


def _face_crop(sample_dir: Path, folder: Path) -> Path:
    """The sample still cut down to its face (a tight crop, as a face tracker's or DFDC's)."""
    import cv2

    from dfcore.analyze import prepare_clip

    clip = prepare_clip(sample_dir / REAL_STILL, 1)
    x, y, w, h = (int(v) for v in clip.track.boxes[0])
    crop = clip.frames[0].image[max(0, y - h // 10): y + h + h // 10, max(0, x - w // 10): x + w + w // 10]
    path = folder / "face_crop.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return path


def test_tight_face_crops_get_their_own_rule(tmp_path: Path, sample_dir: Path) -> None:
    path = _uncalibrated(tmp_path)
    crop = _face_crop(sample_dir, tmp_path)
    pool = _pool(sample_dir)
    pool["crops"] = [LabelledItem(crop, 0, ("astronaut",), "crops/real"), LabelledItem(crop, 1, ("astronaut",), "crops/fake")]
    record = calibrate_on_pool(path, pool, ("stills", "crops"), FRAME_COUNTS)
    assert set(record["calibration_rates"]) == {"video", "image", "crop"}
    assert set(record["crop_scores"]) == {"crops"} and set(record["image_scores"]) == {"stills"}
    det = Detector(load_checkpoint(path), device="cpu")
    rule = det.rule
    assert rule.crop is not None and rule.thresholds(True, True) == rule.crop
    assert rule.calibration(True) == (record["crop_calibration"]["temperature"], record["crop_calibration"]["bias"])
    assert rule.thresholds(True, False) == rule.image and rule.thresholds(False, True) == rule.video
    r = analyze_video(crop, 1, detector=det)
    assert r.is_crop and (r.threshold, r.t_no_sign) == (rule.crop.fake, rule.crop.no_sign)
    assert r.to_dict()["decision"]["judged_as"] == "face crop" and "real face crops" in (r.rarity or "")
    photo = analyze_video(sample_dir / REAL_STILL, 1, detector=det)
    assert not photo.is_crop and photo.to_dict()["decision"]["judged_as"] == "photo"


def test_the_web_domain_degrades_fakes_as_well_as_reals(face_video: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake from the web is compressed too: the NO SIGN threshold must meet compressed fakes."""
    from dfcore.synth.web_degrade import WEB_DEGRADATIONS
    from dfcore.training.sources import calibration_pool
    from dfcore.training.sources.items import LabelledItem

    written = []
    monkeypatch.setattr(calibration_pool, "write_degraded_clip",
                        lambda src, dst, d, seed: written.append((Path(dst).name, d.name, seed)))
    clips = [LabelledItem(face_video, 0, ("a",), "ffpp/original"),
             LabelledItem(face_video, 1, ("a", "b"), "ffpp/Deepfakes"),
             LabelledItem(face_video, 0, ("c",), "talking_heads/MEAD"),
             LabelledItem(face_video, 1, ("a", "b"), "ffpp/FaceSwap")]
    out = calibration_pool.web_degraded(clips, tmp_path)
    stem = face_video.stem
    first, second = WEB_DEGRADATIONS[0].name, WEB_DEGRADATIONS[1].name
    # Reals first, numbered among themselves as when only they were degraded; then the fakes, named by their
    # source (two methods' fakes of one pair share a file name) and seeded apart.
    assert written == [
        (f"{stem}.{first}.mp4", first, 0), (f"{stem}.{second}.mp4", second, 1),
        (f"ffpp_Deepfakes.{stem}.{first}.mp4", first, calibration_pool.FAKE_SEED_OFFSET),
        (f"ffpp_FaceSwap.{stem}.{second}.mp4", second, calibration_pool.FAKE_SEED_OFFSET + 1)]
    assert [(it.label, it.identities, it.source) for it in out] == [
        (0, ("a",), f"web/{first}"), (0, ("c",), f"web/{second}"),
        (1, ("a", "b"), f"web/{first}"), (1, ("a", "b"), f"web/{second}")]
    assert len({it.path for it in out}) == 4
    splits = {"ffpp_calib": clips[:2] + clips[3:], "dfdc_calib": [], "th_calib": clips[2:3]}
    monkeypatch.setattr(calibration_pool, "stills", lambda clips, folder: [])
    pools = calibration_pool.pool_items(splits, "calibration", tmp_path)
    assert list(pools) == ["ffpp", "talking_heads", "web", "dfdc", "stills"]
    assert sorted(it.label for it in pools["web"]) == [0, 0, 1, 1]
