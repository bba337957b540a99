"""Clips at heavy compression (dfcore.evaluation.compression): the copies, the pairing and the command's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from dfcore.evaluation.compression import change_from_baseline, compressed_copies, main, paired_summary
from dfcore.training.sources.items import LabelledItem


def _ffpp_clip(root: Path, method: str, name: str, src: Path) -> Path:
    """``src`` copied where FF++ keeps a clip of ``method`` (originals under original_sequences/youtube)."""
    kind = "original_sequences" if method == "youtube" else "manipulated_sequences"
    dst = root / kind / method / "c23" / "videos" / f"{name}.mp4"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_each_clip_is_reencoded_whole_at_the_crf_and_kept_apart_by_method(face_video: Path, tmp_path: Path) -> None:
    # Two methods' fakes of one pair share a file name in FF++: each needs its own copy.
    a = _ffpp_clip(tmp_path / "data", "Deepfakes", "000_003", face_video)
    b = _ffpp_clip(tmp_path / "data", "FaceSwap", "000_003", face_video)
    items = [LabelledItem(a, 1, ("000", "003"), "ffpp/Deepfakes"), LabelledItem(b, 1, ("000", "003"), "ffpp/FaceSwap")]
    copies = compressed_copies(items, tmp_path / "data", tmp_path / "work", 40)
    assert [c.path for c in copies] == [
        tmp_path / "work/crf40/manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
        tmp_path / "work/crf40/manipulated_sequences/FaceSwap/c23/videos/000_003.mp4"]
    assert [(c.label, c.identities, c.source) for c in copies] == [
        (1, ("000", "003"), "ffpp/Deepfakes@crf40"), (1, ("000", "003"), "ffpp/FaceSwap@crf40")]
    original, copy = _frames(a), _frames(copies[0].path)
    assert len(copy) == len(original) and copy[0].shape == original[0].shape, "every frame, at full size"
    with av.open(str(copies[0].path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    # CRF 40 loses detail that CRF 23 kept: the copy is further from the original than a re-encode at 18.
    fine = compressed_copies(items[:1], tmp_path / "data", tmp_path / "work", 18)[0].path
    err40 = np.mean([np.abs(x.astype(int) - y).mean() for x, y in zip(original, copy)])
    err18 = np.mean([np.abs(x.astype(int) - y).mean() for x, y in zip(original, _frames(fine))])
    assert err40 > err18
    # Reused, not written again.
    stamp = copies[0].path.stat().st_mtime_ns
    compressed_copies(items, tmp_path / "data", tmp_path / "work", 40)
    assert copies[0].path.stat().st_mtime_ns == stamp


def test_a_clip_linked_into_the_data_folder_is_copied_by_its_place_there(face_video: Path, tmp_path: Path) -> None:
    link = tmp_path / "data/original_sequences/youtube/c23/videos/007.mp4"
    link.parent.mkdir(parents=True)
    link.symlink_to(face_video)  # the file itself lives elsewhere (a shared disk, a dataset mirror)
    copies = compressed_copies([LabelledItem(link, 0, ("007",), "ffpp/original")], tmp_path / "data",
                               tmp_path / "work", 40)
    assert copies[0].path == tmp_path / "work/crf40/original_sequences/youtube/c23/videos/007.mp4"
    assert copies[0].path.is_file()


def test_a_clip_outside_the_data_folder_is_refused(face_video: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"{face_video}: not under the data folder"):
        compressed_copies([LabelledItem(face_video, 0, ("x",), "ffpp/original")], tmp_path / "data",
                          tmp_path / "work", 40)
    assert not (tmp_path / "work").exists()


def _item(name: str, label: int, source: str) -> LabelledItem:
    return LabelledItem(Path(f"/d/{name}.mp4"), label, (name,), source)


def test_each_clip_is_paired_with_its_copy_and_each_method_meets_all_the_reals() -> None:
    # r3 is a live swap's original: its source is the method's, its label real.
    clips = [_item("r1", 0, "ffpp/original"), _item("r2", 0, "ffpp/original"), _item("r3", 0, "ffpp/FaceSwap"),
             _item("df", 1, "ffpp/Deepfakes"), _item("fs", 1, "ffpp/FaceSwap"), _item("f2f", 1, "ffpp/Face2Face")]
    copies = [LabelledItem(Path(f"/w/{it.path.stem}.mp4"), it.label, it.identities, it.source + "@crf40")
              for it in clips]
    c23 = {"r1": 0.1, "r2": 0.2, "r3": 0.3, "df": 0.9, "fs": 0.8, "f2f": None}  # f2f: no face at c23
    c40 = {"r1": 0.5, "r2": 0.2, "r3": 0.3, "df": 0.4, "fs": 0.9, "f2f": 0.7}
    shown = {"r1": "NO_SIGN", "r2": "NO_SIGN", "r3": "UNCERTAIN", "df": "FAKE", "fs": "FAKE", "f2f": "NO_FACE"}
    shown40 = {"r1": "UNCERTAIN", "r2": "NO_SIGN", "r3": "UNCERTAIN", "df": "NO_SIGN", "fs": "FAKE", "f2f": "FAKE"}
    videos = ([{"path": str(it.path), "scores": {"20": c23[it.path.stem]}, "verdicts": {"20": shown[it.path.stem]}}
               for it in clips]
              + [{"path": str(cp.path), "scores": {"20": c40[cp.path.stem]}, "verdicts": {"20": shown40[cp.path.stem]}}
                 for cp in copies])
    s = paired_summary(clips, copies, {"videos": videos}, 20, 40)
    assert (s["n_clips"], s["n_unscored"]) == (5, 1), "a pair with one side unscored is dropped"
    # At CRF 40 the Deepfakes copy (0.4) falls below one real's copy (0.5): 5 of 6 real-fake pairs in order.
    assert s["all"]["auc"] == 1.0 and s["all"]["auc_crf40"] == pytest.approx(5 / 6)
    assert s["all"]["change"] == pytest.approx(-1 / 6)
    assert sorted(s["by_method"]) == ["Deepfakes", "FaceSwap"]
    assert s["by_method"]["Deepfakes"]["auc_crf40"] == pytest.approx(2 / 3)
    assert s["by_method"]["FaceSwap"]["auc_crf40"] == 1.0
    assert [(m["n_reals"], m["n_fakes"]) for m in s["by_method"].values()] == [(3, 1), (3, 1)]
    # What the user was shown, over the paired clips: the compressed Deepfakes clip let through as NO SIGN.
    assert s["verdicts"]["original"] == {"real": {"NO_SIGN": 2 / 3, "UNCERTAIN": 1 / 3}, "fake": {"FAKE": 1.0}}
    assert s["verdicts"]["crf40"] == {"real": {"NO_SIGN": 1 / 3, "UNCERTAIN": 2 / 3},
                                      "fake": {"FAKE": 0.5, "NO_SIGN": 0.5}}


def test_the_command_refuses_a_crf_h264_does_not_have(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["--crf", "63", "--out", str(tmp_path / "r.json")]) == 2
    assert "--crf 63: H.264's constant rate factor runs from 0 to 51" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_the_command_names_a_data_folder_without_ffpp(checkpoint: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.json"
    code = main(["--weights", str(checkpoint), "--data", str(tmp_path / "nothing"), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "nothing") in err
    assert not out.exists(), "nothing written"


def _run(model: str, clips: list[tuple[str, str, str, float | None]]) -> dict:
    """A report of this command on the calibration split at CRF 40: (name, label, source, score at 20 frames)."""
    videos = [{"path": f"/d/{name}.mp4", "label": label, "source": source, "scores": {"20": score}}
              for name, label, source, score in clips]
    return {"model": model, "sha256": model * 8, "split": "calib", "crf": 40, "report": {"videos": videos}}


def test_each_clip_meets_its_score_under_the_baseline_model_per_condition_and_dataset() -> None:
    clips = [("r1", "real", "ffpp/original"), ("f1", "fake", "ffpp/Deepfakes"),
             ("r2", "real", "talking_heads/MEAD"), ("f2", "fake", "talking_heads/SadTalker")]
    copies = [(f"c/{n}", lab, f"{src}@crf40") for n, lab, src in clips]
    before = _run("old", [(*c, s) for c, s in zip(clips + copies, [0.1, 0.9, 0.2, 0.8, 0.6, 0.5, 0.3, 0.4])])
    # The new model orders the compressed FF++ pair right, and leaves the f2 copy unscored (no face found).
    after = _run("new", [(*c, s) for c, s in zip(clips + copies, [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.3, None])])
    r = change_from_baseline(after, before, 20)
    assert r["baseline"] == {"model": "old", "sha256": "old" * 8}
    original, crf40 = r["by_condition"]["original"], r["by_condition"]["crf40"]
    assert original["pooled"]["change"] == 0.0 and original["pooled"]["auc_after"] == 1.0
    assert (crf40["ffpp"]["auc_before"], crf40["ffpp"]["auc_after"], crf40["ffpp"]["change"]) == (0.0, 1.0, 1.0)
    assert crf40["talking_heads"] is None, "its only fake copy went unscored: no AUC"
    assert (crf40["pooled"]["n_reals"], crf40["pooled"]["n_fakes"]) == (2, 1)
    assert crf40["pooled"]["auc_before"] == 0.5 and crf40["pooled"]["auc_after"] == 1.0


def test_a_baseline_of_another_split_or_crf_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match="it is of the test split at CRF 40, this run of the calib split"):
        change_from_baseline(_run("new", []), {**_run("old", []), "split": "test"}, 20)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**_run("old", []), "crf": 30}))
    out = tmp_path / "r.json"
    assert main(["--baseline", str(other), "--out", str(out)]) == 2
    assert f"--baseline {other}: it is of the calib split at CRF 30" in capsys.readouterr().err
    not_a_report = tmp_path / "notes.json"
    not_a_report.write_text("[1, 2]")
    assert main(["--baseline", str(not_a_report), "--out", str(out)]) == 2
    assert f"--baseline {not_a_report}: cannot be read as a report of this command" in capsys.readouterr().err
    assert not out.exists(), "refused before anything ran"
