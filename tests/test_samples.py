"""dfcore.synth.samples and dfcore.media.video_writer: the synthetic sample clips and the H.264 writer.

The clips are made small (192x144, 5 fps, 0.8 s = 4 frames) so each set takes a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import dfcore.synth.samples as samples_mod
from dfcore.vision.faces import FaceDetector
from dfcore.synth.samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, WARP_CLIP, SampleOptions, generate_samples
from dfcore.media.video_io import probe_video
from dfcore.media.video_writer import write_h264

OPTS = SampleOptions(duration_s=0.8, fps=5, size=(192, 144))
N_FRAMES = 4  # 0.8 s x 5 fps
CLIPS = (REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP)


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _generate(out: Path, opts: SampleOptions) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Generate the samples, also capturing the exact frames handed to the encoder."""
    captured: dict[str, np.ndarray] = {}
    real_write = samples_mod.write_h264

    def spy(frames, path, fps, crf=23):
        frames = list(frames)
        captured[Path(path).name] = np.stack(frames)
        return real_write(frames, path, fps, crf)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(samples_mod, "write_h264", spy)
        paths = generate_samples(out, opts)
    return paths, captured


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[Path], dict[str, np.ndarray]]]:
    return {
        "a": _generate(tmp_path_factory.mktemp("samples_a"), OPTS),
        "b": _generate(tmp_path_factory.mktemp("samples_b"), OPTS),
        "seed1": _generate(tmp_path_factory.mktemp("samples_seed1"), SampleOptions(**{**OPTS.__dict__, "seed": 1})),
    }


# --------------------------------------------------------------------------- generate_samples


def test_writes_the_four_files(runs) -> None:
    paths, _ = runs["a"]
    assert [p.name for p in paths] == [REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP, REAL_STILL]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 0
        assert "synthetic" in p.name
    assert sorted(q.name for q in paths[0].parent.iterdir()) == sorted(p.name for p in paths)


def test_clips_are_h264_with_expected_size_and_frames(runs) -> None:
    paths, _ = runs["a"]
    for p in paths[:3]:
        info = probe_video(p)
        assert info.kind == "video" and info.codec == "h264"
        assert (info.width, info.height) == OPTS.size
        assert info.frame_count == N_FRAMES
        assert info.fps == pytest.approx(OPTS.fps)
        frames = _decode(p)
        assert frames.shape == (N_FRAMES, OPTS.size[1], OPTS.size[0], 3)
    still = probe_video(paths[3])
    assert still.kind == "image" and (still.width, still.height) == OPTS.size


def test_a_face_is_found_in_each_clip_and_the_still(runs) -> None:
    import cv2

    paths, _ = runs["a"]
    with FaceDetector() as det:
        for p in paths[:3]:
            frame = _decode(p)[N_FRAMES // 2]
            assert det.detect(frame), p.name
        still = cv2.cvtColor(cv2.imread(str(paths[3])), cv2.COLOR_BGR2RGB)
        assert det.detect(still)


def test_fakes_differ_from_the_real_clip_in_the_face_only(runs) -> None:
    _, frames = runs["a"]
    real = frames[REAL_CLIP].astype(int)
    for name in (SELFBLEND_CLIP, WARP_CLIP):
        diff = np.abs(frames[name].astype(int) - real).max(axis=3)
        changed = diff > 0
        assert changed.any(axis=(1, 2)).all(), name  # every frame is manipulated
        # ... but only in a face-sized region: far less than half the frame.
        assert changed.mean() < 0.25, name


def test_same_seed_same_frames(runs) -> None:
    paths_a, frames_a = runs["a"]
    paths_b, frames_b = runs["b"]
    # What goes into the encoder is exactly reproducible ...
    assert set(frames_a) == set(CLIPS)
    for name in CLIPS:
        np.testing.assert_array_equal(frames_a[name], frames_b[name])
    # ... and so is the still.
    assert paths_a[3].read_bytes() == paths_b[3].read_bytes()
    # The decoded clips match too. x264 does not always produce identical bytes for
    # identical input (observed here), so allow a small mean difference; another seed is far off.
    _, frames_s1 = runs["seed1"]
    for pa, pb, name in zip(paths_a[:3], paths_b[:3], CLIPS):
        da, db = _decode(pa).astype(float), _decode(pb).astype(float)
        assert da.shape == db.shape
        assert np.abs(da - db).mean() < 0.5, name
    for name in CLIPS:
        assert np.abs(frames_a[name].astype(float) - frames_s1[name]).mean() > 0.5, name


def test_odd_size_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        generate_samples(tmp_path, SampleOptions(duration_s=0.2, fps=5, size=(191, 144)))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- write_h264


def _grey_frames(n: int, w: int, h: int) -> list[np.ndarray]:
    ramp = np.linspace(40, 200, w, dtype=np.float32)[None, :, None]
    return [np.broadcast_to(ramp + 5 * i, (h, w, 3)).astype(np.uint8) for i in range(n)]


def test_write_h264_roundtrip(tmp_path: Path) -> None:
    frames = _grey_frames(6, 64, 48)
    out = write_h264(iter(frames), tmp_path / "clip.mp4", fps=12)
    assert out == tmp_path / "clip.mp4"
    info = probe_video(out)
    assert (info.codec, info.width, info.height, info.frame_count) == ("h264", 64, 48, 6)
    assert info.fps == pytest.approx(12)
    decoded = _decode(out).astype(int)
    assert np.abs(decoded - np.stack(frames)).mean() < 3  # lossy, but the same pictures


def test_write_h264_odd_sizes_made_even(tmp_path: Path) -> None:
    frames = _grey_frames(3, 65, 49)
    out = write_h264(frames, tmp_path / "odd.mp4", fps=10)
    info = probe_video(out)
    assert (info.width, info.height) == (64, 48)
    decoded = _decode(out).astype(int)
    # The last column and row are dropped, not the image rescaled.
    assert np.abs(decoded - np.stack(frames)[:, :48, :64]).mean() < 3


def test_write_h264_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "none.mp4"
    with pytest.raises(ValueError, match="no frames"):
        write_h264([], path, fps=10)
    assert not path.exists()


def test_write_h264_mismatched_sizes_leave_no_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.mp4"
    frames = _grey_frames(3, 64, 48) + _grey_frames(1, 32, 48)
    with pytest.raises(ValueError, match="frame 3"):
        write_h264(frames, path, fps=10)
    assert not path.exists()


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((48, 64, 3), np.float32),  # wrong dtype
        np.zeros((48, 64), np.uint8),  # no channels
        np.zeros((48, 64, 4), np.uint8),  # RGBA
        np.zeros((1, 64, 3), np.uint8),  # too small to encode
    ],
)
def test_write_h264_bad_frames(tmp_path: Path, frame: np.ndarray) -> None:
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError):
        write_h264([frame], path, fps=10)
    assert not path.exists()


def test_write_h264_bad_arguments(tmp_path: Path) -> None:
    frames = _grey_frames(2, 32, 32)
    for kwargs in ({"fps": 0}, {"fps": -5}, {"fps": 10, "crf": 60}, {"fps": 10, "crf": -1}):
        with pytest.raises(ValueError):
            write_h264(frames, tmp_path / "x.mp4", **kwargs)
    assert not (tmp_path / "x.mp4").exists()


def test_write_h264_error_from_the_iterable_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "interrupted.mp4"

    def frames():
        yield from _grey_frames(2, 32, 32)
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        write_h264(frames(), path, fps=10)
    assert not path.exists()
