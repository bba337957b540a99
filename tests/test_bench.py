"""``python -m dfcore bench``: medians, the table's form, the last line, the JSON keys.

The timing itself is exercised on the session's tiny 2 s 320x240 clip with one
run per pipeline, and the seed baseline built from the compact architecture
instead of resnext50 (the same code path, a fraction of the time); the real
bench (`make bench`) uses the 10 s 720p clip and resnext50_lstm.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from dfcore.evaluation.speed.bench import (
    OUR_STAGES,
    SEED_STAGES,
    BenchOptions,
    BenchResult,
    check_targets,
    format_table,
    median_stages,
    run_bench,
    save_seed_checkpoint,
    seed_input,
    seed_request,
    side_by_side,
    speedup_line,
)
from dfcore.evaluation.speed.long_clips import LongRun
from dfcore.cli import main
from dfcore.models.detector import Detector

SPEEDUP_RE = re.compile(r"^speedup_vs_seed_at_100_frames: [0-9.]+$")
TINY = BenchOptions(frame_counts=(10,), runs=1, seed_runs=1, warmup=0, seed_model="resnext_compact_lstm",
                    slider_from=10, long_clips=False)


def _result(counts: tuple[int, ...], ours_total: float, seed_total: float) -> BenchResult:
    ours = {n: {**{s: 0.01 for s in OUR_STAGES}, "total": ours_total, "total_no_explain": ours_total - 0.01}
            for n in counts}
    seed = {n: {**{s: 0.1 for s in SEED_STAGES}, "total": seed_total} for n in counts}
    return BenchResult("clip.mp4", "1280x720", BenchOptions(frame_counts=counts), ours, seed, ["a note"])


def test_median_stages_takes_each_keys_median() -> None:
    runs = [{"decode": 3.0, "total": 10.0}, {"decode": 1.0, "total": 30.0}, {"decode": 2.0, "total": 20.0}]
    assert median_stages(runs) == {"decode": 2.0, "total": 20.0}


def test_median_stages_even_count_and_missing_key() -> None:
    # An even number of runs averages the middle two; a stage a run lacks counts as 0 s there.
    runs = [{"model": 1.0, "explain": 0.4}, {"model": 3.0},
            {"model": 2.0, "explain": 0.2}, {"model": 4.0, "explain": 0.6}]
    assert median_stages(runs) == pytest.approx({"model": 2.5, "explain": 0.3})


def test_median_stages_refuses_no_runs() -> None:
    with pytest.raises(ValueError):
        median_stages([])


def test_table_rows_and_last_line_with_given_numbers() -> None:
    table = format_table(_result((10, 20, 40, 60, 80, 100), ours_total=0.5, seed_total=6.0))
    lines = table.splitlines()
    assert lines[-1] == "speedup_vs_seed_at_100_frames: 12.0"
    assert SPEEDUP_RE.match(lines[-1])
    for n in (10, 20, 40, 60, 80, 100):  # one row per count in each of the two tables
        assert sum(1 for line in lines if line.split("|")[0].strip() == str(n)) == 2
    assert "note: a note" in table


def test_side_by_side_rows_are_each_model_and_runtime_at_the_largest_count() -> None:
    result = _result((20, 100), ours_total=0.5, seed_total=6.0)
    result.model, result.runtime = "lite0_lstm", "onnx"
    assert side_by_side(result) == [], "nothing else timed: no side-by-side table"
    result.others = {"lite0_lstm (torch)": {n: {"model": 0.4, "total": 1.0} for n in (20, 100)},
                     "resnext_lstm (onnx)": {20: {"model": 0.1, "total": 0.3}}}
    lines = side_by_side(result)
    assert lines[1].startswith("side by side at 100 frames")
    rows = {line.split("|")[0].strip(): line.split("|")[-1].strip() for line in lines[3:]}
    assert rows == {"lite0_lstm (onnx)": "12.0x", "lite0_lstm (torch)": "6.0x"}  # resnext_lstm: not timed at 100
    assert "\n".join(lines) in format_table(result)


def test_runs_of_every_detector_and_the_seed_are_taken_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    import dfcore.evaluation.speed.bench as bench

    calls: list[str] = []

    def seed(path, n, ckpt):
        calls.append("seed")
        return {"total": 4.0}, 7

    def ours(path, n, det, opts):
        calls.append(det)
        return {"model": 1.0 if det == "a" else 2.0, "total": 1.0 if det == "a" else 2.0}

    monkeypatch.setattr(bench, "seed_request", seed)
    monkeypatch.setattr(bench, "_one_analysis", ours)
    opts = BenchOptions(runs=2, seed_runs=1, warmup=1)
    timed, seed_t, held = bench.time_interleaved(Path("x.mp4"), 10, {"a": "a", "b": "b"}, Path("c.pt"), opts)
    # the warm-up, then the timed rounds in turn, each opened by the seed (1 timed run) and turned one place
    assert calls == ["seed", "b", "a", "seed", "a", "b", "b", "a"]
    assert timed == {"a": {"model": 1.0, "total": 1.0}, "b": {"model": 2.0, "total": 2.0}}
    assert seed_t == {"total": 4.0} and held == 7


def test_each_detector_follows_the_seed_design_once_in_as_many_rounds_as_there_are_detectors() -> None:
    import dfcore.evaluation.speed.bench as bench

    rounds = [bench.round_order(["a", "b", "c"], k) for k in range(3)]
    assert rounds[0] == [None, "a", "b", "c"]  # the first timed round: the default (listed first) after the seed
    assert all(r[0] is None for r in rounds)
    assert sorted(r[1] for r in rounds) == ["a", "b", "c"]
    for key in "abc":
        assert sorted(r.index(key) for r in rounds) == [1, 2, 3]
    assert bench.round_order(["a", "b", "c"], -1) == [None, "c", "a", "b"]  # a warm-up round
    assert bench.round_order([], 2) == [None]


def test_speedup_line_rounds_to_one_decimal_and_names_the_largest_count_without_100() -> None:
    assert speedup_line(_result((100,), ours_total=0.9, seed_total=2.8)) == "speedup_vs_seed_at_100_frames: 3.1"
    assert speedup_line(_result((10, 20), ours_total=1.0, seed_total=4.0)) == "speedup_vs_seed_at_20_frames: 4.0"


def test_seed_input_keeps_the_measured_baseline_layout_and_our_values() -> None:
    # The seed's input stays channels-last in memory (as when the targets were set) whatever to_tensor does.
    import numpy as np
    import torch

    from dfcore.vision.preprocessing import PreprocessConfig, to_tensor

    cfg = PreprocessConfig(input_size=8)
    crops = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    x = seed_input(crops, cfg)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert torch.allclose(x, to_tensor(crops, cfg), atol=1e-6)


def test_seed_request_times_every_stage(face_video: Path, tmp_path: Path) -> None:
    ckpt = save_seed_checkpoint(tmp_path, "resnext_compact_lstm")
    stages, held = seed_request(face_video, 10, ckpt)
    assert set(stages) == {*SEED_STAGES, "total"}
    assert all(v >= 0 for v in stages.values())
    assert stages["total"] == pytest.approx(sum(stages[s] for s in SEED_STAGES))
    assert held == 30 * 320 * 240 * 3  # every frame of the 2 s 15 fps clip, in memory at once


def test_run_bench_on_a_tiny_clip(face_video: Path, detector: Detector, tmp_path: Path) -> None:
    opts = replace(TINY, frame_counts=(10, 100), work_dir=tmp_path)
    result = run_bench(face_video, detector, opts, log=lambda m: None)
    assert set(result.ours) == set(result.seed) == {10, 100}
    assert {*OUR_STAGES, "total", "total_no_explain"} <= set(result.ours[10])
    assert result.ours[10]["total_no_explain"] == pytest.approx(result.ours[10]["total"] - result.ours[10]["explain"])
    lines = format_table(result).splitlines()
    assert SPEEDUP_RE.match(lines[-1])
    # The work done, in CPU seconds of all threads, and the wall time it bounds on this machine's cores.
    assert 0 < result.ours[100]["cpu"]
    floor = [line for line in lines if "CPU seconds of work" in line]
    assert len(floor) == 1 and f"{result.ours[100]['cpu']:.2f}" in floor[0]
    d = result.to_dict()
    assert {"video", "frame_counts", "runs", "seed_runs", "explain", "seed_model", "ours_s", "seed_s", "speedup",
            "notes"} <= set(d)
    assert set(d["ours_s"]) == set(d["speedup"]) == {"10", "100"}
    # The slider moved from 10 to 100 frames: the first analysis, the first move and back again, timed.
    assert set(result.slider) == {100} and set(result.slider[100]) == {"prime", "first", "again", "ahead", "ready"}
    assert d["slider_s"]["100"]["first"] >= 0
    assert any("frames slider 10 -> 100" in t["name"] for t in d["targets"])
    json.dumps(d)


def test_targets_are_computed_from_the_measurements() -> None:
    result = _result((20, 100), ours_total=0.25, seed_total=3.0)  # 12x
    result.slider = {100: {"first": 0.7, "again": 0.05}, 60: {"first": 0.3, "again": 0.04}}
    result.long = [LongRun("10 s 4K, 17 Mbit/s", 10.0, 100, 2.0, {}, 5.0, 900.0),
                   LongRun("60 s 4K, 17 Mbit/s", 60.0, 100, 4.0, {}, 7.0, 2100.0)]
    result.options = replace(result.options, long_frame_counts=(100,))
    by_name = {t.name: t for t in check_targets(result)}
    speed = by_name["full analysis at 100 frames vs the seed design"]
    assert speed.value == pytest.approx(12.0) and speed.met
    slider = by_name["frames slider 20 -> 100, the slowest move, to the new verdict"]
    assert slider.value == pytest.approx(0.7) and not slider.met
    assert by_name["Grad-CAM for 20 frames"].met  # 0.01 s
    memory = by_name["peak memory, 60 s 4K clip at 100 frames"]
    assert memory.value == 2100.0 and not memory.met
    growth = by_name["time growth with length at 100 frames (60 s / 10 s 4K clip)"]
    assert growth.value == pytest.approx(2.0) and not growth.met
    table = format_table(result)
    assert "NOT MET peak memory, 60 s 4K clip at 100 frames: 2.1e+03 MB (target <= 2048)" in table
    assert "MET     full analysis at 100 frames vs the seed design: 12 x (target >= 10)" in table


@pytest.mark.slow
def test_cli_bench_writes_table_and_json(face_video: Path, checkpoint: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # The real seed model (resnext50_lstm, ~235 MB checkpoint): a few seconds.
    out = tmp_path / "bench.json"
    rc = main(["bench", str(face_video), "--frames", "10", "--runs", "1", "--weights", str(checkpoint),
               "--json", str(out), "--work-dir", str(tmp_path / "work"), "--no-4k"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.match(r"^speedup_vs_seed_at_10_frames: [0-9.]+$", lines[-1])
    d = json.loads(out.read_text())
    assert d["seed_model"] == "resnext50_lstm" and d["frame_counts"] == [10]
    # Without --runtime the same weights are timed under the other runtime too, in the same run.
    assert d["runtime"] == "onnx" and set(d["others_s"]) == {f"{checkpoint.stem} (torch)"}
    assert any(line.startswith("side by side at 10 frames") for line in lines)


def test_cli_bench_refuses_zero_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["bench", "--runs", "0"])
    assert e.value.code == 2


def test_long_clip_has_the_asked_length_size_and_keyframes(tmp_path: Path) -> None:
    import av

    from dfcore.evaluation.speed.long_clips import make_long_clip

    clip = make_long_clip(tmp_path, 2.0, size=(320, 240), fps=15.0, gop=5)
    assert make_long_clip(tmp_path, 2.0, size=(320, 240), fps=15.0, gop=5) == clip  # made once, then reused
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        keys = [p.is_keyframe for p in c.demux(stream) if p.size]
    assert (stream.width, stream.height) == (320, 240) and len(keys) == 30
    assert sum(keys) == 6  # a keyframe every 5 frames
    assert not list(tmp_path.glob("*.partial.mp4"))


@pytest.mark.slow
def test_analysis_in_a_fresh_process_reports_time_and_peak_memory(face_video: Path, checkpoint: Path) -> None:
    from dfcore.evaluation.speed.long_clips import analyse_in_process

    run = analyse_in_process(face_video, 10, "tiny", 2.0, threads=1, weights=str(checkpoint))
    assert run.n_frames == 10 and run.analysis_s > 0 and "explain" in run.stages_s
    assert run.process_s > run.analysis_s
    assert 100 < run.peak_rss_mb < 4000  # torch and MediaPipe loaded: hundreds of MB, not KB or GB
    with pytest.raises(RuntimeError, match="failed"):
        analyse_in_process(face_video.with_suffix(".missing.mp4"), 10, "missing", 2.0, weights=str(checkpoint))


def test_tracking_bench_compares_sparse_search_with_every_frame(face_video: Path, detector: Detector) -> None:
    from dfcore.evaluation.speed.tracking import compare_clip

    row = compare_clip(face_video, 30, detector)
    assert row.frames == row.searched_every == 30
    assert 0 < row.searched_sparse < 30, "a still face: most boxes interpolated"
    assert row.prepare_s_every > 0 and row.prepare_s_sparse > 0
    assert row.max_box_diff < 0.2 and row.clip_score_diff < 0.05
    assert row.line().split()[1] == "30"


def test_sampling_bench_compares_moved_samples_with_exact_ones(face_video: Path, tmp_path: Path,
                                                               detector: Detector) -> None:
    import av

    from dfcore.evaluation.speed.sampling import compare_clip

    # The face clip looped to 150 frames (longer than the 100-time sample grid) with x264's B-frames.
    with av.open(str(face_video)) as src:
        pictures = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    clip = tmp_path / "long_b_frames.mp4"
    with av.open(str(clip), mode="w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = pictures[0].shape[1], pictures[0].shape[0], "yuv420p"
        stream.options = {"bf": "3", "g": "150"}
        for i in range(150):
            frame = av.VideoFrame.from_ndarray(pictures[i % len(pictures)], format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    row = compare_clip(clip, 50, detector, runs=1)
    assert row.frames == 50 and 0 < row.moved < 50
    assert row.seconds_exact > 0 and row.seconds_moved > 0 and row.cpu_moved > 0
    assert row.score_exact is not None and row.score_diff < 0.05
    assert row.line().split()[1] == "50"
    # A clip's memory holds moved samples: exact ones cannot be mixed into it.
    from dfcore.analyze import prepare_clip
    from dfcore.media.clip_memory import ClipMemory

    with pytest.raises(ValueError, match="exact_samples"):
        prepare_clip(clip, 10, memory=ClipMemory(), exact_samples=True)
