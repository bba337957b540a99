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

from dfcore.serving.batch import run_batch
from dfcore.serving.batch_inputs import check_inputs, expand_inputs
from dfcore.serving.batch_log import ResultLog, write_summary_csv
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
    return {"path": path, "sha256": sha, "error": error, "model": {"name": "x", "sha256": model},
            "n_frames_requested": frames}


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
    ok = {**_line("/a.mp4", "1"), "verdict": "FAKE", "fake_probability": 0.9, "timings_s": {"total": 1.5}}
    out.write_text(json.dumps(ok) + "\n" + json.dumps(_line("/b,c.mp4", "2", error='bad "file"')) + "\n")
    assert write_summary_csv(out, tmp_path / "t.csv") == 2
    import csv

    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert rows[0]["verdict"] == "FAKE" and rows[0]["seconds"] == "1.5" and rows[0]["error"] == ""
    assert rows[1]["path"] == "/b,c.mp4" and rows[1]["error"] == 'bad "file"' and rows[1]["verdict"] == ""


def test_cli_exit_status(tmp_path: Path, face_image: Path, corrupt_video: Path, checkpoint: Path,
                         capsys: pytest.CaptureFixture) -> None:
    common = ["--frames", "1", "--weights", str(checkpoint), "--workers", "0", "--threads", "1", "--no-progress"]
    assert main(["batch", str(face_image), "--out", str(tmp_path / "ok.jsonl"), *common]) == 0
    assert "1 OK, 0 failed, 0 skipped" in capsys.readouterr().out
    assert main(["batch", str(face_image), str(corrupt_video), "--out", str(tmp_path / "bad.jsonl"), *common]) == 1
    assert "1 OK, 1 failed" in capsys.readouterr().out
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
    assert f"{16 - done_before} OK, 0 failed, {done_before} skipped" in capsys.readouterr().out
    lines = read_lines(out)
    assert sorted(by_path(lines)) == sorted(str(p) for p in clips.iterdir())
    assert all(d["error"] is None for d in lines)
