"""``python -m dfcore``: exit codes, JSON schema and one-line errors.

The subprocess tests run the real command line (each starts Python and imports
torch and MediaPipe: a few seconds each, so they are marked slow); the
in-process tests call ``dfcore.cli.main`` for the same rules quickly. The
weights are the session's UNTRAINED checkpoint: verdicts are checked for form only.

MediaPipe/TFLite write a few log lines of their own to fd 2 whenever the face
detector starts (e.g. "INFO: Created TensorFlow Lite XNNPACK delegate"); the CLI
hides them unless --verbose, and test_analyze_console_is_quiet_unless_verbose checks
both. Bad inputs fail before the face detector starts, so their stderr is checked
unfiltered: exactly one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from verdict_examples import T_FAKE, T_NO_SIGN, make_result

import dfcore.analyze
import dfcore.models.detector
from dfcore.analyze import SCHEMA_VERSION
from dfcore.cli import EXIT_INPUT_ERROR, format_result, main
from dfcore.decision import (
    FAKE,
    NO_FACE,
    NO_SIGN,
    REASON_SENTENCES,
    UNCERTAIN,
    VERDICT_LABELS,
    VERDICT_SENTENCES,
    VERDICTS,
    percent,
)

REPO = Path(__file__).resolve().parents[1]
FRAME_KEYS = {"index", "time_s", "face_box", "fake_probability"}
MODEL_KEYS = {"name", "sha256", "file", "version", "runtime"}
METRIC_KEYS = {"auc", "accuracy", "eer", "log_loss", "seconds_per_video", "n_videos", "n_no_face"}
DECISION_KEYS = {"threshold", "t_fake", "t_no_sign", "rule", "threshold_rule", "thresholds_set", "reasons",
                 "reason_sentences", "calibration_reals_at_or_above", "calibration_fakes_at_or_above", "rarity",
                 "judged_as"}


def run_cli(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "dfcore", *map(str, args)],
        cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def _check_schema(d: dict, n_frames: int) -> None:
    assert d["schema_version"] == SCHEMA_VERSION == 2
    assert d["verdict"] in VERDICTS and d["verdict"] != NO_FACE
    assert 0.0 <= d["fake_probability"] <= 1.0
    assert 0.0 <= d["threshold"] <= 1.0
    assert set(d["decision"]) == DECISION_KEYS
    assert d["decision"]["t_fake"] == d["threshold"] and 0.0 <= d["decision"]["t_no_sign"] <= d["threshold"]
    assert d["n_frames"] == n_frames == len(d["frames"])
    for f in d["frames"]:
        assert set(f) == FRAME_KEYS
        assert isinstance(f["index"], int) and f["time_s"] >= 0
        assert f["face_box"] is None or (len(f["face_box"]) == 4 and all(isinstance(v, int) for v in f["face_box"]))
    assert {"decode", "detect", "crop", "model", "total"} <= set(d["timings_s"])
    assert set(d["model"]) == MODEL_KEYS and d["model"]["runtime"] in ("onnx", "torch")


def _assert_one_error_line(stderr: str, path: Path) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert path.name in lines[0]
    assert "Traceback" not in stderr


# --------------------------------------------------------------------------- subprocess (slow)


@pytest.mark.slow
def test_analyze_json(face_video: Path, checkpoint: Path) -> None:
    proc = run_cli("analyze", face_video, "--json", "--frames", "4", "--weights", checkpoint, "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    d = json.loads(proc.stdout)  # stdout is nothing but the JSON
    _check_schema(d, 4)
    assert d["n_frames_with_face"] == 4
    assert d["model"]["name"] == "resnext_compact_lstm"
    assert d["model"]["runtime"] == "onnx", "ONNX Runtime is installed: it is the default"
    from dfcore.models.checkpoint import sha256_file

    assert d["model"]["sha256"] == sha256_file(checkpoint)


@pytest.mark.slow
def test_analyze_human_output(face_image: Path, checkpoint: Path) -> None:
    proc = run_cli("analyze", face_image, "--weights", checkpoint, "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert str(face_image) in out
    assert any(f"verdict: {VERDICT_LABELS[v]}. {VERDICT_SENTENCES[v]}" in out for v in (FAKE, UNCERTAIN, NO_SIGN))
    assert "fake score: " in out and "FAKE at or above " in out
    assert "frames: 1 analysed, 1 with a face" in out
    assert "note: A still image" in out


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["missing", "corrupt_video", "empty_video", "unsupported_file"])
def test_bad_input_exits_with_one_line(request: pytest.FixtureRequest, tmp_path: Path, checkpoint: Path,
                                       fixture: str) -> None:
    path = tmp_path / "no_such_clip.mp4" if fixture == "missing" else request.getfixturevalue(fixture)
    proc = run_cli("analyze", path, "--weights", checkpoint, "--threads", "1")
    assert proc.returncode == EXIT_INPUT_ERROR
    assert proc.stdout == ""
    _assert_one_error_line(proc.stderr, path)


THIRD_PARTY_LOG = ("XNNPACK", "absl::InitializeLog", "inference_feedback_manager", "W0000", "I0000")


@pytest.mark.slow
def test_analyze_console_is_quiet_unless_verbose() -> None:
    """The README's first command, with the committed default model: only our own output, unless --verbose."""
    clip = REPO / "sample_videos" / "synthetic_real_astronaut.mp4"
    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL")}
    quiet = subprocess.run([sys.executable, "-m", "dfcore", "analyze", str(clip), "--threads", "1"], cwd=REPO,
                           env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=180)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", "no third-party log lines on a good input"
    assert "verdict: " in quiet.stdout
    loud = run_cli("analyze", clip, "--threads", "1", "--verbose", timeout=180)
    assert loud.returncode == 0, loud.stderr
    assert any(marker in loud.stderr for marker in THIRD_PARTY_LOG), "--verbose lets MediaPipe's lines through"


@pytest.mark.slow
def test_no_weights_installed(face_video: Path, tmp_path: Path) -> None:
    proc = run_cli("analyze", face_video, env={"DFCORE_WEIGHTS": "/nonexistent/x.pt"}, cwd=tmp_path)
    assert proc.returncode == EXIT_INPUT_ERROR
    assert "no trained weights are installed" in proc.stderr
    _assert_one_error_line(proc.stderr, Path("/nonexistent/x.pt"))


@pytest.mark.slow
def test_evaluate_csv(tmp_path: Path, face_video: Path, fake_videos: list[Path], checkpoint: Path) -> None:
    data = tmp_path / "data"
    (data / "clips").mkdir(parents=True)
    shutil.copy(face_video, data / "clips" / "real.mp4")
    shutil.copy(fake_videos[0], data / "clips" / "fake.mp4")
    csv = data / "list.csv"
    # Paths relative to the CSV's folder, not to the working directory.
    csv.write_text("path,label\nclips/real.mp4,real\nclips/fake.mp4,fake\n")
    work = tmp_path / "work"
    work.mkdir()
    proc = run_cli("evaluate", "--csv", csv, "--frames", "10,20", "--out", "report.json",
                   "--weights", checkpoint, "--threads", "1", cwd=work, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # The table: a header naming the metrics and one row per frame count.
    lines = proc.stdout.strip().splitlines()
    assert "frames" in lines[0] and "auc" in lines[0] and "seconds_per_video" in lines[0]
    assert "auc_95%_interval" in lines[0]
    trend = next(i for i, line in enumerate(lines) if line.startswith("AUC from 10 to 20 frames:"))
    assert [line.split()[0] for line in lines[2:trend]] == ["10", "20"]  # then whether the AUC falls as frames rise
    # Then the verdict rates: one "all" row per frame count (one clip per class and source here).
    verdicts = lines[trend + 2:]  # after a blank line
    assert verdicts[0].startswith("verdicts") and "real: FAKE / UNCERTAIN / NO SIGN" in verdicts[1]
    assert sorted(line.split()[0] for line in verdicts[3:] if line.split()[1] == "all") == ["10", "20"]

    report = json.loads((work / "report.json").read_text())
    assert set(report["by_frames"]) == {"10", "20"}
    assert report["auc_change"]["n_scored"] == 2
    for k in ("10", "20"):
        m = report["by_frames"][k]
        assert METRIC_KEYS <= set(m)
        assert m["n_videos"] == 2 and m["n_no_face"] == 0 and m["n_scored"] == 2
        assert m["auc"] in (0.0, 0.5, 1.0)  # two clips, one per class
        assert m["auc_ci_low"] == m["auc_ci_high"] == m["auc"]  # one clip per class: every resample is the same
        assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["eer"] <= 1.0
        assert m["log_loss"] > 0 and m["seconds_per_video"] > 0
    videos = {Path(v["path"]).name: v for v in report["videos"]}
    assert set(videos) == {"real.mp4", "fake.mp4"}
    assert videos["real.mp4"]["label"] == "real" and videos["fake.mp4"]["label"] == "fake"
    for v in videos.values():
        assert v["error"] is None
        assert set(v["scores"]) == {"10", "20"}
        assert all(0.0 <= s <= 1.0 for s in v["scores"].values())


# --------------------------------------------------------------------------- in-process (fast)


def test_main_json(face_video: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["analyze", str(face_video), "--json", "--frames", "3", "--weights", str(checkpoint),
                 "--device", "cpu"]) == 0
    _check_schema(json.loads(capsys.readouterr().out), 3)


def test_main_runtime_flag_is_recorded(face_video: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    for runtime in ("torch", "onnx"):
        assert main(["analyze", str(face_video), "--json", "--frames", "2", "--weights", str(checkpoint),
                     "--device", "cpu", "--runtime", runtime]) == 0
        assert json.loads(capsys.readouterr().out)["model"]["runtime"] == runtime
    assert "DFCORE_RUNTIME" not in os.environ, "the flag lasts for its command only"


def test_main_runtime_flag_is_checked(face_video: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["analyze", str(face_video), "--runtime", "tensorrt"])
    assert "invalid choice" in capsys.readouterr().err


def test_main_blank_video_is_no_face(blank_video: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["analyze", str(blank_video), "--frames", "3", "--weights", str(checkpoint), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"verdict: NO FACE. {VERDICT_SENTENCES[NO_FACE]}" in out and "fake score: -" in out


# --------------------------------------------------------------------------- each verdict, shown (built results)


@pytest.fixture()
def fake_analysis(monkeypatch: pytest.MonkeyPatch):
    """`analyze` with a hand-built result: no model is loaded and no file read; returns a verdict setter."""
    chosen = {}
    monkeypatch.setattr(dfcore.models.detector, "load_detector", lambda *a, **k: None)
    monkeypatch.setattr(dfcore.analyze, "analyze_video", lambda path, *a, **k: make_result(chosen["verdict"], path))
    return chosen.__setitem__


@pytest.mark.parametrize("verdict", VERDICTS)
def test_analyze_text_for_each_verdict(fake_analysis, capsys: pytest.CaptureFixture, verdict: str) -> None:
    fake_analysis("verdict", verdict)
    assert main(["analyze", "clip.mp4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "clip.mp4"
    assert out[1] == f"  verdict: {VERDICT_LABELS[verdict]}. {VERDICT_SENTENCES[verdict]}"
    score = {FAKE: "90%", UNCERTAIN: "50%", NO_SIGN: "10%", NO_FACE: "-"}[verdict]
    assert out[2] == f"  fake score: {score}  (FAKE at or above 70%; NO SIGN FOUND below 30%)"
    text = "\n".join(out)
    assert ("why uncertain: " + REASON_SENTENCES["between_thresholds"] in text) == (verdict == UNCERTAIN)
    assert ("This is not proof that the clip is authentic." in text) == (verdict == NO_SIGN)
    assert "REAL" not in text
    rarity = [line for line in out if line.startswith("  rarity: ")]
    if verdict == NO_FACE:
        assert rarity == []
    else:  # the rule's pool: ten reals below 0.5, ten fakes from 0.5 (tests/verdict_examples.py)
        reals, fakes = {FAKE: ("0%", "20%"), UNCERTAIN: ("0%", "100%"), NO_SIGN: ("80%", "100%")}[verdict]
        assert rarity == [f"  rarity: {reals} of real videos in calibration score this high; {fakes} of fakes do."]


@pytest.mark.parametrize("verdict", VERDICTS)
def test_analyze_json_is_to_dict_unchanged(fake_analysis, capsys: pytest.CaptureFixture, verdict: str) -> None:
    fake_analysis("verdict", verdict)
    assert main(["analyze", "clip.mp4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d == json.loads(json.dumps(make_result(verdict).to_dict()))  # printed as it is, nothing added or lost
    assert d["schema_version"] == 2 and d["verdict"] == verdict
    assert set(d["decision"]) == DECISION_KEYS
    assert (d["decision"]["t_fake"], d["decision"]["t_no_sign"]) == (T_FAKE, T_NO_SIGN)
    assert d["decision"]["reasons"] == (["between_thresholds"] if verdict == UNCERTAIN else [])


def test_one_threshold_model_says_so() -> None:
    r = make_result(NO_SIGN)
    r.threshold_no_sign, r.decision_rule = None, "calibrated with one threshold"
    lines = format_result(r)
    assert f"  fake score: 10%  (FAKE at or above {percent(T_FAKE)}; NO SIGN FOUND below {percent(T_FAKE)})" in lines
    assert "  thresholds: calibrated with one threshold" in lines
    assert not any(line.startswith("  thresholds: ") for line in format_result(make_result(NO_SIGN)))


@pytest.mark.parametrize("fixture", ["missing", "corrupt_video", "empty_video", "unsupported_file", "text_as_mov"])
def test_main_bad_input(request: pytest.FixtureRequest, tmp_path: Path, checkpoint: Path,
                        capsys: pytest.CaptureFixture, fixture: str) -> None:
    path = tmp_path / "no_such_clip.mp4" if fixture == "missing" else request.getfixturevalue(fixture)
    assert main(["analyze", str(path), "--weights", str(checkpoint), "--device", "cpu"]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_error_line(captured.err, path)


def test_main_tampered_weights(tmp_path: Path, checkpoint: Path, face_video: Path,
                               capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "model.pt"
    data = bytearray(checkpoint.read_bytes())
    data[-100] ^= 0x01
    bad.write_bytes(bytes(data))
    shutil.copy(checkpoint.parent / "SHA256SUMS", tmp_path / "SHA256SUMS")
    assert main(["analyze", str(face_video), "--weights", str(bad), "--device", "cpu"]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    _assert_one_error_line(err, bad)
    assert "sha256" in err


@pytest.mark.parametrize("frames", ["0", "301", "ten", "-5"])
def test_frames_out_of_range_rejected_by_argparse(face_video: Path, capsys: pytest.CaptureFixture,
                                                  frames: str) -> None:
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(face_video), "--frames", frames])
    assert e.value.code == 2
    assert "--frames" in capsys.readouterr().err


def test_evaluate_frames_list_rejected(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--csv", "x.csv", "--frames", "10,0"])
    assert "--frames" in capsys.readouterr().err


def test_main_no_weights_installed(face_video: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DFCORE_WEIGHTS", "/nonexistent/x.pt")
    assert main(["analyze", str(face_video)]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert "no trained weights are installed" in err
    _assert_one_error_line(err, Path("/nonexistent/x.pt"))


# --------------------------------------------------------------------------- train and card arguments (nothing trained)


def test_train_arguments_reach_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dfcore.training.train as train_mod

    seen = []
    monkeypatch.setattr(train_mod, "train", seen.append)
    from dfcore.training.recipe import RECIPE

    runs = list(RECIPE)[:2]
    assert main(["train", "--data", str(tmp_path / "data"), "--runs", ",".join(runs), "--step-scale", "0.01",
                 "--weights-dir", str(tmp_path / "w"), "--work-dir", str(tmp_path / "r")]) == 0
    (cfg,) = seen
    assert cfg.data.data_root == str(tmp_path / "data")
    assert cfg.runs == tuple(runs) and cfg.step_scale == 0.01
    assert (cfg.weights_dir, cfg.work_dir) == (str(tmp_path / "w"), str(tmp_path / "r"))
    # Without options: the whole recipe, as `make train` runs it.
    assert main(["train"]) == 0
    assert seen[1] == train_mod.TrainConfig()


def test_train_unknown_run_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    import dfcore.training.train as train_mod

    monkeypatch.setattr(train_mod, "train", lambda cfg: pytest.fail("trained with an unknown run"))
    assert main(["train", "--runs", "no_such_run"]) == EXIT_INPUT_ERROR
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown run(s) ['no_such_run']")


def test_train_extract_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dfcore.training.sources.splits as splits_mod
    import dfcore.training.train as train_mod

    calls = []
    monkeypatch.setattr(splits_mod, "prepare_data", lambda cfg, work, only=None: calls.append((cfg, work, only)))
    monkeypatch.setattr(train_mod, "train", lambda cfg: pytest.fail("--extract-only trained"))
    assert main(["train", "--extract-only", "dfdc_train,dfdc_calib", "--work-dir", str(tmp_path)]) == 0
    assert calls == [(splits_mod.DataConfig(), tmp_path, ("dfdc_train", "dfdc_calib"))]


def test_train_missing_data_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # No dataset folders: a DatasetError before anything is trained or written.
    assert main(["train", "--data", str(tmp_path / "nothing"), "--work-dir", str(tmp_path / "r"),
                 "--weights-dir", str(tmp_path / "w")]) == EXIT_INPUT_ERROR
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nothing" in lines[0]
    assert not (tmp_path / "w").exists()


def test_card_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dfcore.evaluation.card as card_mod

    calls = []
    monkeypatch.setattr(card_mod, "build_cards", lambda *a: calls.append(a))
    assert main(["card", "--data", "d", "--weights-dir", str(tmp_path), "--model", "x", "--model", "y",
                 "--frames", "10,20"]) == 0
    assert calls == [("d", str(tmp_path), ["x", "y"], (10, 20))]
