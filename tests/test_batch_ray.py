"""``dfcore batch --ray``: the same lines as ``analyze``, and a killed actor's videos retried.

One Ray instance (2 CPUs, on this machine) serves every test here: starting
Ray takes seconds. The model is the session's UNTRAINED checkpoint; the sample
clips and the corrupt file come from tests/conftest.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from batch_fixtures import assert_matches, batch_inputs, options, read_lines, sequential  # noqa: F401 - fixtures

from dfcore.serving.batch import run_batch
from dfcore.serving.batch_ray import ACTOR_NAME_PREFIX

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def test_ray_matches_analyze(ray_cluster, tmp_path: Path, batch_inputs: list[Path],  # noqa: F811
                             sequential: dict[str, dict], checkpoint: Path) -> None:  # noqa: F811
    out = tmp_path / "results.jsonl"
    s = run_batch(batch_inputs, out, options(checkpoint, workers=2, ray=True))
    assert (s.ok, s.failed, s.retried) == (len(batch_inputs) - 1, 1, 0)
    assert_matches(read_lines(out), sequential)


def test_killed_actor_is_replaced_and_its_videos_retried(ray_cluster, tmp_path: Path, sample_dir: Path,
                                                         checkpoint: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(4):
        shutil.copy(sample_dir / "synthetic_real_astronaut.mp4", clips / f"clip{i}.mp4")
    killed: list[str] = []

    def kill_every_actor_once(line: dict) -> None:
        # At the first result each actor still holds at least one video (two are sent to each).
        if killed:
            return
        for name in ray_cluster.util.list_named_actors():
            if name.startswith(ACTOR_NAME_PREFIX):
                ray_cluster.kill(ray_cluster.get_actor(name))
                killed.append(name)

    out = tmp_path / "results.jsonl"
    s = run_batch([clips], out, options(checkpoint, workers=2, ray=True), on_line=kill_every_actor_once)
    assert len(killed) == 2
    assert s.retried >= 1 and (s.ok, s.failed) == (4, 0)
    lines = read_lines(out)
    assert sorted(d["path"] for d in lines) == sorted(str(p) for p in clips.iterdir())  # once each
    assert all(d["error"] is None for d in lines)
    assert len({d["fake_probability"] for d in lines}) == 1  # one clip copied: the same score wherever it ran
