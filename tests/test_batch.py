"""``dfcore batch``: inputs, the resumable output, the local modes, and exit codes.

Every video is a generated sample clip (tests/conftest.py) or a copy of one;
the model is the session's UNTRAINED checkpoint, so verdicts are compared
between modes, never read as detection results. The process-pool and
killed-run tests start Python processes (torch and MediaPipe imports: seconds
each) and are marked slow (the pool-survival test uses light tasks from
pool_tasks.py and is quick); the Ray mode is in test_batch_ray.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_fixtures import FRAMES, assert_matches, batch_inputs, by_path, options, read_lines, sequential  # noqa: F401
from pool_tasks import POISON, die_on_poison
from verdict_examples import T_FAKE, T_NO_SIGN, make_result

import dfcore.serving.batch as batch_mod
from dfcore.decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, VERDICTS
from dfcore.models.checkpoint import sha256_file
from dfcore.serving.batch import run_batch
from dfcore.serving.batch_inputs import check_inputs, expand_inputs
from dfcore.serving.batch_log import SUMMARY_COLUMNS, ResultLog, is_legacy, legacy_path, write_summary_csv
from dfcore.serving.batch_pool import WORKER_DIED, PoolSpec, run_in_pool
from dfcore.cli import EXIT_INPUT_ERROR, main
from dfcore.errors import DatasetError, InputNotFoundError, OutputInUseError

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- inputs


def test_expand_inputs_folders_globs_csv_once_each(tmp_path: Path) -> None:
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / ".hidden").mkdir()
    for rel in ("a/1.mp4", "a/deep/2.MOV", "a/deep/3.jpg", "a/notes.txt", "a/.4.mp4", "a/.hidden/5.mp4", "b.webm"):
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "list.csv").write_text("label,Path\nfake,b.webm\nreal,missing.mp4\n,\n")
    found = list(expand_inputs([tmp_path / "a", str(tmp_path / "a" / "*.mp4"), tmp_path / "list.csv",
                                tmp_path / "a" / ".." / "b.webm"]))
    assert found == [tmp_path / "a" / "1.mp4", tmp_path / "a" / "deep" / "2.MOV", tmp_path / "a" / "deep" / "3.jpg",
                     tmp_path / "b.webm", tmp_path / "missing.mp4"]


def test_check_inputs_refuses_what_names_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="not found"):
        check_inputs([tmp_path / "nope.mp4"])
    with pytest.raises(InputNotFoundError, match="glob matches no file"):
        check_inputs([str(tmp_path / "*.mp4")])
    bad = tmp_path / "list.csv"
    bad.write_text("file,label\na.mp4,real\n")
    with pytest.raises(DatasetError, match="'path' column"):
        check_inputs([bad])


# --------------------------------------------------------------------------- the output file


def _line(path: str, sha: str, error: str | None = None, model: str = "m" * 64, frames: int = FRAMES) -> dict:
    """A line as a worker writes it: a schema-2 result, or an error line (no verdict)."""
    result = {"schema_version": 2, "verdict": NO_SIGN} if error is None else {"verdict": None}
    return {"path": path, "sha256": sha, "error": error, "model": {"name": "x", "sha256": model},
            "n_frames_requested": frames, **result}


def _legacy(path: str, sha: str, verdict: str = "REAL", **kw) -> dict:
    """A result line of dfcore before the three verdicts (schema 1: no schema_version, REAL or FAKE)."""
    line = _line(path, sha, **kw)
    del line["schema_version"]
    return {**line, "verdict": verdict}


def test_result_log_cuts_a_torn_line_and_remembers_results(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [_line("/a.mp4", "1"), _line("/b.mp4", "2", error="broken"), _line("/c.mp4", "3", frames=FRAMES + 1),
             _line("/d.mp4", "4", model="o" * 64)]
    out.write_text("".join(json.dumps(d) + "\n" for d in lines) + '{"path": "/e.mp4", "verd')
    with ResultLog(out, "m" * 64, FRAMES) as log:
        assert log.previous_ok == 1 and log.previous_failed == 1
        assert log.is_done("/a.mp4", "1") and log.is_done("/b.mp4", "2")
        assert not log.is_done("/a.mp4", "changed")  # same path, new content: analysed again
        assert not log.has_path("/c.mp4") and not log.has_path("/d.mp4")  # other frames, other model
        log.write(_line("/e.mp4", "5"))
    assert [d["path"] for d in read_lines(out)] == ["/a.mp4", "/b.mp4", "/c.mp4", "/d.mp4", "/e.mp4"]


def test_retry_failed_drops_only_this_runs_failed_lines(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [_line("/a.mp4", "1"), _line("/b.mp4", "2", error="broken"), _line("/c.mp4", "3", "x", frames=99)]
    out.write_text("".join(json.dumps(d) + "\n" for d in lines))
    with ResultLog(out, "m" * 64, FRAMES, retry_failed=True) as log:
        assert log.dropped_failed == 1 and not log.is_done("/b.mp4", "2") and log.is_done("/a.mp4", "1")
    assert [d["path"] for d in read_lines(out)] == ["/a.mp4", "/c.mp4"]


def test_schema1_lines_are_set_aside_and_run_again(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [_line("/a.mp4", "1"), _legacy("/b.mp4", "2"), _legacy("/c.mp4", "3", verdict=FAKE),
             _line("/d.mp4", "4", error="broken"), _legacy("/e.mp4", "5", frames=99)]
    out.write_text("".join(json.dumps(d) + "\n" for d in lines))
    with ResultLog(out, "m" * 64, FRAMES) as log:
        assert log.legacy == 2 and log.previous_ok == 1 and log.previous_failed == 1
        assert log.is_done("/a.mp4", "1") and log.is_done("/d.mp4", "4")
        # REAL, and FAKE judged by one threshold without the evidence rules: both analysed again.
        assert not log.has_path("/b.mp4") and not log.is_done("/c.mp4", "3")
    # Moved, not lost: other frame counts' lines are not this run's to redo, and stay.
    assert [d["path"] for d in read_lines(out)] == ["/a.mp4", "/d.mp4", "/e.mp4"]
    assert legacy_path(out) == tmp_path / "out.schema1.jsonl"
    assert read_lines(legacy_path(out)) == [lines[1], lines[2]]
    with ResultLog(out, "m" * 64, FRAMES) as log:  # nothing left to move: the file is not rewritten again
        assert log.legacy == 0


def test_is_legacy() -> None:
    assert is_legacy(_legacy("/a", "1")) and is_legacy(_legacy("/a", "1", verdict=FAKE))
    assert is_legacy({**_line("/a", "1"), "verdict": "REAL"})  # an unknown verdict, whatever it claims
    assert not is_legacy(_line("/a", "1")) and not is_legacy(_line("/a", "1", error="x"))
    assert all(not is_legacy({**_line("/a", "1"), "verdict": v}) for v in VERDICTS)


def test_output_is_locked_while_a_run_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultLog(out, "m" * 64, FRAMES), pytest.raises(OutputInUseError, match="another batch run"):
        ResultLog(out, "m" * 64, FRAMES).__enter__()


# --------------------------------------------------------------------------- runs


def test_in_process_matches_analyze_then_resumes(tmp_path: Path, batch_inputs: list[Path],
                                                 sequential: dict[str, dict], checkpoint: Path) -> None:
    out, table = tmp_path / "results.jsonl", tmp_path / "results.csv"
    s = run_batch(batch_inputs, out, options(checkpoint, workers=0), summary_csv=table)
    assert (s.ok, s.failed, s.skipped) == (len(batch_inputs) - 1, 1, 0)
    assert_matches(read_lines(out), sequential)
    assert len(table.read_text().splitlines()) == 1 + len(batch_inputs)
    again = run_batch(batch_inputs, out, options(checkpoint, workers=0))
    assert (again.ok, again.failed, again.skipped) == (0, 0, len(batch_inputs))
    assert "--retry-failed" in " ".join(again.notes)
    assert len(read_lines(out)) == len(batch_inputs)


def test_summary_csv_has_a_row_per_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    ok = {**_line("/a.mp4", "1"), "verdict": "FAKE", "fake_probability": 0.9, "timings_s": {"total": 1.5},
          "threshold": 0.7, "decision": {"t_fake": 0.7, "t_no_sign": 0.25}}
    out.write_text(json.dumps(ok) + "\n" + json.dumps(_line("/b,c.mp4", "2", error='bad "file"')) + "\n"
                   + json.dumps({**_legacy("/d.mp4", "3"), "threshold": 0.6}) + "\n")
    assert write_summary_csv(out, tmp_path / "t.csv") == 3
    import csv

    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert rows[0]["verdict"] == "FAKE" and rows[0]["seconds"] == "1.5" and rows[0]["error"] == ""
    assert (rows[0]["threshold"], rows[0]["t_no_sign"], rows[0]["model"]) == ("0.7", "0.25", "x")
    assert rows[1]["path"] == "/b,c.mp4" and rows[1]["error"] == 'bad "file"' and rows[1]["verdict"] == ""
    assert (rows[2]["verdict"], rows[2]["threshold"], rows[2]["t_no_sign"]) == ("REAL", "0.6", "")  # as written


# --------------------------------------------------------------------------- each verdict (built results)


@pytest.fixture()
def verdict_per_file(monkeypatch: pytest.MonkeyPatch):
    """Batch in this process with hand-built results: a file named FAKE.mp4 gets the verdict FAKE, and so on;
    one named broken.mp4 an error line. No model runs (the checkpoint is only hashed and loaded for the setup)."""
    from dfcore.serving.batch_worker import error_line

    def analyze_file(task, detector, setup):
        path, sha = task
        if Path(path).stem == "broken":
            return error_line(path, f"{path}: broken.", setup, sha, "w")
        r = make_result(Path(path).stem, path)
        d = r.to_dict()
        d["model"]["sha256"], d["n_frames_requested"] = setup.model_sha256, setup.n_frames
        return {**d, "path": path, "sha256": sha or sha256_file(path), "error": None, "worker": "w"}

    monkeypatch.setattr(batch_mod, "load_worker_detector", lambda setup: None)
    monkeypatch.setattr(batch_mod, "analyze_file", analyze_file)


def _files(folder: Path, stems: list[str]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for i, stem in enumerate(stems):
        (folder / f"{stem}.mp4").write_bytes(bytes([i]) * 10)
    return [folder / f"{stem}.mp4" for stem in stems]


def test_each_verdict_in_lines_csv_and_counts(tmp_path: Path, checkpoint: Path, verdict_per_file,
                                              capsys: pytest.CaptureFixture) -> None:
    files = _files(tmp_path / "clips", [FAKE, UNCERTAIN, NO_SIGN, NO_FACE, "broken"])
    out, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    assert main(["batch", str(tmp_path / "clips"), "--out", str(out), "--summary", str(table), "--frames",
                 str(FRAMES), "--weights", str(checkpoint), "--workers", "0", "--no-progress"]) == 1  # one error
    final = capsys.readouterr().out
    assert "batch: FAKE 1, UNCERTAIN 1, NO_SIGN 1, NO_FACE 1, errors 1, skipped 0 in " in final
    lines = by_path(read_lines(out))
    for v in VERDICTS:
        d = lines[str(files[VERDICTS.index(v)])]
        assert d["verdict"] == v and d["schema_version"] == 2 and d["error"] is None
        assert (d["decision"]["t_fake"], d["decision"]["t_no_sign"]) == (T_FAKE, T_NO_SIGN)
    assert lines[str(files[-1])]["verdict"] is None and lines[str(files[-1])]["error"]
    import csv

    rows = {Path(r["path"]).stem: r for r in csv.DictReader(table.open())}
    assert tuple(csv.reader(table.open()).__next__()) == SUMMARY_COLUMNS
    for v in VERDICTS:
        assert rows[v]["verdict"] == v and rows[v]["model"] == "resnext_compact_lstm"
        assert (float(rows[v]["threshold"]), float(rows[v]["t_no_sign"])) == (T_FAKE, T_NO_SIGN)
    assert rows["broken"]["verdict"] == "" and rows["broken"]["error"]


def test_resuming_a_schema1_output_analyses_those_videos_again(tmp_path: Path, checkpoint: Path,
                                                               verdict_per_file) -> None:
    files = _files(tmp_path / "clips", [FAKE, NO_SIGN])
    out = tmp_path / "out.jsonl"
    model = sha256_file(checkpoint)
    old = [_legacy(str(f), sha256_file(f), verdict, model=model) for f, verdict in zip(files, ("FAKE", "REAL"))]
    out.write_text("".join(json.dumps(d) + "\n" for d in old))
    s = run_batch([tmp_path / "clips"], out, options(checkpoint, workers=0))
    assert (s.ok, s.failed, s.skipped, s.legacy) == (2, 0, 0, 2)
    assert s.verdicts == {FAKE: 1, UNCERTAIN: 0, NO_SIGN: 1, NO_FACE: 0}
    assert any("schema 1" in n and str(legacy_path(out)) in n for n in s.notes)
    lines = by_path(read_lines(out))  # one line per video, all with the new verdicts
    assert {Path(p).stem: d["verdict"] for p, d in lines.items()} == {FAKE: FAKE, NO_SIGN: NO_SIGN}
    assert read_lines(legacy_path(out)) == old
    again = run_batch([tmp_path / "clips"], out, options(checkpoint, workers=0))
    assert (again.ok, again.skipped, again.legacy) == (0, 2, 0)
    assert again.line().startswith("batch: FAKE 0, UNCERTAIN 0, NO_SIGN 0, NO_FACE 0, errors 0, skipped 2 in ")


def test_cli_exit_status(tmp_path: Path, face_image: Path, corrupt_video: Path, checkpoint: Path,
                         capsys: pytest.CaptureFixture) -> None:
    common = ["--frames", "1", "--weights", str(checkpoint), "--workers", "0", "--threads", "1", "--no-progress"]
    assert main(["batch", str(face_image), "--out", str(tmp_path / "ok.jsonl"), *common]) == 0
    counts = dict(c.split() for c in capsys.readouterr().out.split("batch: ")[1].split(" in ")[0].split(", "))
    assert list(counts) == [*VERDICTS, "errors", "skipped"]
    assert sum(int(counts[v]) for v in VERDICTS) == 1 and (counts["errors"], counts["skipped"]) == ("0", "0")
    assert main(["batch", str(face_image), str(corrupt_video), "--out", str(tmp_path / "bad.jsonl"), *common]) == 1
    assert ", errors 1, skipped 0 in " in capsys.readouterr().out
    assert main(["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "x.jsonl"), *common]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing" in err and len(err.strip().splitlines()) == 1
    assert main(["batch", str(face_image), "--out", str(tmp_path / "x.jsonl"), "--model", "no-such-model",
                 "--workers", "0"]) == EXIT_INPUT_ERROR
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(face_image), "--out", str(tmp_path / "x.jsonl"), "--workers", "-1"])
    assert exit_info.value.code == EXIT_INPUT_ERROR


def test_ray_missing_gives_a_clear_error(tmp_path: Path, face_image: Path, checkpoint: Path,
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main(["batch", str(face_image), "--out", str(tmp_path / "x.jsonl"), "--weights", str(checkpoint),
                 "--no-progress", "--ray"])
    assert code == EXIT_INPUT_ERROR
    assert "make ray" in capsys.readouterr().err


# --------------------------------------------------------------------------- process pool (slow)


@pytest.mark.slow
def test_local_pool_matches_analyze(tmp_path: Path, batch_inputs: list[Path], sequential: dict[str, dict],
                                    checkpoint: Path) -> None:
    out = tmp_path / "results.jsonl"
    s = run_batch(batch_inputs, out, options(checkpoint, workers=2))
    assert (s.ok, s.failed, s.retried) == (len(batch_inputs) - 1, 1, 0)
    assert_matches(read_lines(out), sequential)


def test_pool_survives_a_worker_that_dies() -> None:
    results, lost = {}, {}
    stats = run_in_pool(range(8), PoolSpec(work=die_on_poison, workers=2), results.__setitem__, lost.__setitem__)
    assert results == {t: t * 10 for t in range(8) if t != POISON}  # the others in flight with it were retried
    assert lost == {POISON: WORKER_DIED}
    assert stats.retried >= 1 and stats.restarts >= 2


@pytest.mark.slow
def test_resume_after_the_run_is_killed(tmp_path: Path, sample_dir: Path, checkpoint: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(16):  # distinct paths, so the run is still going when it is killed
        shutil.copy(sample_dir / "synthetic_real_astronaut.mp4", clips / f"clip{i:02d}.mp4")
    out = tmp_path / "results.jsonl"
    args = ["batch", str(clips), "--out", str(out), "--frames", "4", "--weights", str(checkpoint),
            "--threads", "1", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "dfcore", *args, "--workers", "1"], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out.is_file() and out.read_bytes().count(b"\n") >= 2):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no result within 120 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, as a lost machine would
        proc.wait()
    done_before = out.read_bytes().count(b"\n")
    assert 2 <= done_before < 16
    with out.open("a") as f:
        f.write('{"path": "' + str(clips / "clip15.mp4") + '", "verd')  # a line torn by the crash
    assert main([*args, "--workers", "0"]) == 0
    final = capsys.readouterr().out
    assert f", errors 0, skipped {done_before} in " in final
    counts = final.split("batch: ")[1].split(", errors")[0]  # "FAKE 3, UNCERTAIN 1, NO_SIGN 2, NO_FACE 0"
    assert sum(int(c.split()[1]) for c in counts.split(", ")) == 16 - done_before
    lines = read_lines(out)
    assert sorted(by_path(lines)) == sorted(str(p) for p in clips.iterdir())
    assert all(d["error"] is None for d in lines)
