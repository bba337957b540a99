"""The batch runner under hostile conditions (issue 30, items 3, 4 and the unusable ``--out``).

- Resume is exact: a folder of good, empty, corrupt, unsupported and unreadable files run twice gives
  one line per file and exit 0 the second time (the error lines used to carry ``sha256: null``, so the
  second run analysed them again, wrote duplicate lines and exited 1).
- ``kill -9`` of the batch process takes its workers and multiprocessing's resource tracker with it
  (they used to run on, re-parented to PID 1, each holding a model).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_fixtures import read_lines

from dfcore.cli import EXIT_INPUT_ERROR, main
from dfcore.serving.batch_pool import PoolSpec, run_in_pool

REPO = Path(__file__).resolve().parents[1]
# Root reads any file whatever its mode: the unreadable file's test drops the capabilities that allow it.
DROP_ROOT_READ = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def _as_a_user(cmd: list[str]) -> list[str]:
    """``cmd`` so that file permissions apply to it (as root: without the capabilities that bypass them)."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be made to apply")
    return [*DROP_ROOT_READ, *cmd]


def _children(pid: int) -> set[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be read


def _batch(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(_as_a_user([sys.executable, "-m", "dfcore", "batch", *args]), cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="permissions are checked as on Linux")
def test_resume_answers_each_file_once(tmp_path: Path, face_image: Path, corrupt_video: Path,
                                       text_as_mov: Path, unsupported_file: Path, checkpoint: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(face_image, folder / "good.jpg")
    (folder / "empty.mp4").write_bytes(b"")
    shutil.copy(corrupt_video, folder / "corrupt.mp4")
    shutil.copy(text_as_mov, folder / "notes.mov")
    shutil.copy(corrupt_video, folder / "locked.mp4")
    (folder / "locked.mp4").chmod(0)
    gif = shutil.copy(unsupported_file, tmp_path / "clip.gif")  # named on its own: a folder would skip it
    out = tmp_path / "o.jsonl"
    args = [str(folder), gif, "--out", str(out), "--frames", "2", "--weights", str(checkpoint), "--workers", "0",
            "--threads", "1", "--no-progress"]
    first = _batch(args)
    assert first.returncode == 1, first.stderr  # five files could not be analysed
    assert ", errors 5, skipped 0 in " in first.stdout
    lines = read_lines(out)
    assert len(lines) == 6 and len({d["path"] for d in lines}) == 6
    keyed = {Path(d["path"]).name: d["sha256"] for d in lines}
    assert keyed["locked.mp4"] is None  # unreadable: the stable key
    assert all(keyed[n] for n in ("good.jpg", "empty.mp4", "corrupt.mp4", "notes.mov", "clip.gif"))
    assert "could not be read" in next(d["error"] for d in lines if d["path"].endswith("locked.mp4"))
    before = out.read_bytes()
    second = _batch(args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert ", errors 0, skipped 6 in " in second.stdout
    assert out.read_bytes() == before  # not a line more


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_unusable_out_is_one_line_and_exit_2(tmp_path: Path, face_image: Path, checkpoint: Path, where: str,
                                            capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path if where == "folder" else tmp_path / "file.txt" / "o.jsonl"
    code = main(["batch", str(face_image), "--out", str(out), "--weights", str(checkpoint), "--workers", "0",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT_ERROR
    assert err.startswith(f"error: {out}: the output cannot be written") and len(err.strip().splitlines()) == 1


def test_exit_with_parent_when_the_parent_is_already_gone() -> None:
    code = ("import os, sys; from dfcore.serving.batch_pool import exit_with_parent; "
            "exit_with_parent(os.getppid() + 1); sys.exit(0)")  # any pid but the real parent's
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=60)
    assert done.returncode == 1


def _start_batch(tmp_path: Path, sample_dir: Path, checkpoint: Path, n_clips: int,
                 *options: str) -> tuple[subprocess.Popen, Path]:
    """``dfcore batch`` over ``n_clips`` copies of a sample with 2 workers, in its own session; returns it and its output."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(n_clips):
        shutil.copy(sample_dir / "synthetic_real_astronaut.mp4", clips / f"clip{i:02d}.mp4")
    out = tmp_path / "o.jsonl"
    driver = subprocess.Popen(
        [sys.executable, "-m", "dfcore", "batch", str(clips), "--out", str(out), "--frames", "30", "--weights",
         str(checkpoint), "--workers", "2", *options, "--no-progress"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    return driver, out


def _wait_for_a_result(driver: subprocess.Popen, out: Path, timeout_s: float) -> None:
    """Wait for the batch's first result line: by then its workers are up and working."""
    deadline = time.monotonic() + timeout_s
    while not (out.is_file() and out.read_bytes().count(b"\n") >= 1):
        assert driver.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline, f"no result within {timeout_s:g} s"
        time.sleep(0.1)


@pytest.mark.slow
def test_kill_9_of_the_batch_takes_its_workers_with_it(tmp_path: Path, sample_dir: Path,
                                                       checkpoint: Path) -> None:
    """The issue's repro: ``dfcore batch DIR --workers 2`` killed with SIGKILL; workers gone within 10 s."""
    driver, out = _start_batch(tmp_path, sample_dir, checkpoint, 12, "--threads", "1")
    try:
        _wait_for_a_result(driver, out, 180)  # the workers are up and working
        helpers = _children(driver.pid)
        assert len(helpers) >= 3  # two workers and the resource tracker
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        killed = time.monotonic()
        while any(_alive(p) for p in helpers) and time.monotonic() - killed < 10:
            time.sleep(0.1)
        left = [p for p in helpers if _alive(p)]
        print(f"\nkill -9 of the batch: {len(helpers)} helper processes, {len(left)} alive "
              f"{time.monotonic() - killed:.1f} s later")
        assert not left
    finally:
        for pid in _children(driver.pid) | {driver.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_pool_still_runs_with_the_parent_watch() -> None:
    results: dict[int, int] = {}
    run_in_pool(range(2), PoolSpec(work=abs, workers=1), results.__setitem__, lambda t, r: None)
    assert results == {0: 0, 1: 1}


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# Ray's own helper processes notice that their raylet is gone only on their next poll (about a minute):
# they hold no model. The actors, the raylet and the GCS are what must go at once.
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


@pytest.mark.slow
def test_kill_9_of_a_ray_batch_takes_its_actors_with_it(tmp_path: Path, sample_dir: Path, checkpoint: Path) -> None:
    pytest.importorskip("ray")
    driver, out = _start_batch(tmp_path, sample_dir, checkpoint, 8, "--ray")
    helpers: set[int] = set()
    try:
        _wait_for_a_result(driver, out, 240)  # Ray is up and its actors work
        helpers = _descendants(driver.pid)
        names = {p: _cmdline(p) for p in helpers}
        heavy = {p for p, name in names.items() if not name.startswith(RAY_AGENTS)}
        assert any("BatchActor" in name for name in names.values())
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        killed = time.monotonic()
        while any(_alive(p) for p in heavy) and time.monotonic() - killed < 10:
            time.sleep(0.2)
        left = [names[p][:40] for p in heavy if _alive(p)]
        agents = [names[p][:40] for p in helpers - heavy if _alive(p)]
        print(f"\nkill -9 of a Ray batch: {len(heavy)} Ray processes (actors, raylet, GCS), {len(left)} alive "
              f"{time.monotonic() - killed:.1f} s later; Ray agents still polling: {len(agents)}")
        assert not left, left
    finally:
        for pid in helpers | {driver.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
