"""dfcore.media.video_io: probing clips and sampling frames by time over the whole clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_FRAMES, VFR_PTS_MS

from dfcore.errors import InputNotFoundError, UnsupportedFormatError, VideoDecodeError
from dfcore.media.video_io import probe_video, sample_frames


def test_probe_video_fields(face_video: Path) -> None:
    info = probe_video(face_video)
    assert info.kind == "video"
    assert (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(15.0)
    assert info.frame_count == SAMPLE_FRAMES
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert info.codec == "h264"
    assert info.path == str(face_video)


def test_probe_image(face_image: Path) -> None:
    info = probe_video(face_image)
    assert info.kind == "image"
    assert (info.width, info.height) == (320, 240)
    assert info.frame_count == 1
    assert info.fps == 0.0 and info.duration_s == 0.0


@pytest.mark.parametrize("n", [1, 5, 10, 20])
def test_sample_frames_spread_over_whole_clip(face_video: Path, n: int) -> None:
    info, frames = sample_frames(face_video, n)
    assert len(frames) == n
    times = [f.time_s for f in frames]
    indices = [f.index for f in frames]
    assert times == sorted(times) and len(set(times)) == n
    assert indices == sorted(indices) and len(set(indices)) == n
    if n == 1:
        # One sample stands for the whole clip: the middle, not the first frame.
        assert 0.35 * info.duration_s < times[0] < 0.65 * info.duration_s
    else:
        assert times[0] < 0.15 * info.duration_s
        assert times[-1] > 0.85 * info.duration_s
    for f in frames:
        assert f.image.shape == (240, 320, 3)
        assert f.image.dtype == np.uint8
        assert f.index == round(f.time_s * info.fps)


def test_sample_frames_images_are_the_clip_content(face_video: Path) -> None:
    # The camera drifts and noise is added per frame: sampled frames differ from each other.
    _, frames = sample_frames(face_video, 3)
    a, b = frames[0].image.astype(int), frames[-1].image.astype(int)
    assert np.abs(a - b).mean() > 2.0
    assert 40 < a.mean() < 220  # a real picture, not a black or white frame


def test_asking_for_every_frame_gets_every_frame(face_video: Path) -> None:
    _, frames = sample_frames(face_video, SAMPLE_FRAMES)
    assert [f.index for f in frames] == list(range(SAMPLE_FRAMES))


def test_more_frames_than_the_clip_has(face_video: Path) -> None:
    _, frames = sample_frames(face_video, 100)
    indices = [f.index for f in frames]
    assert indices == list(range(SAMPLE_FRAMES))  # all of them, once each, in order


def test_max_side_downscales(face_video: Path) -> None:
    _, frames = sample_frames(face_video, 2, max_side=160)
    for f in frames:
        assert f.image.shape == (120, 160, 3)
        assert f.image.dtype == np.uint8
    _, full = sample_frames(face_video, 2, max_side=4000)
    assert full[0].image.shape == (240, 320, 3)  # never upscaled


def test_image_is_one_frame(face_image: Path) -> None:
    info, frames = sample_frames(face_image, 20)
    assert info.kind == "image"
    assert len(frames) == 1
    assert frames[0].index == 0 and frames[0].time_s == 0.0
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8
    _, small = sample_frames(face_image, 1, max_side=160)
    assert small[0].image.shape == (120, 160, 3)


def test_one_frame_video(one_frame_video: Path) -> None:
    info, frames = sample_frames(one_frame_video, 10)
    assert info.kind == "video"
    assert len(frames) == 1
    assert frames[0].index == 0


def test_vfr_sampled_by_time(vfr_video: Path) -> None:
    info, frames = sample_frames(vfr_video, 10)
    times = [f.time_s for f in frames]
    actual = {round(ms / 1000, 3) for ms in VFR_PTS_MS}
    # Every sample is one of the clip's real frames, taken by its timestamp.
    assert {round(t, 3) for t in times} <= actual
    assert times == sorted(times) and len(set(times)) == len(times)
    # The 400 ms stall after 0.1 s leaves one frame for two targets: it is taken once.
    assert 8 <= len(frames) <= 10
    end = VFR_PTS_MS[-1] / 1000
    assert times[0] < 0.15 * end
    assert times[-1] > 0.85 * end
    # Sampling follows time, not frame order: the first seven frames are all
    # within 0.1 s, so at most one sample comes from them.
    assert sum(t <= 0.1 for t in times) <= 1


def test_vfr_all_frames(vfr_video: Path) -> None:
    _, frames = sample_frames(vfr_video, 100)
    assert [round(f.time_s * 1000) for f in frames] == VFR_PTS_MS


def test_n_frames_must_be_positive(face_video: Path) -> None:
    with pytest.raises(ValueError):
        sample_frames(face_video, 0)


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    for call in (lambda: probe_video(missing), lambda: sample_frames(missing, 5)):
        with pytest.raises(InputNotFoundError) as e:
            call()
        assert "nowhere.mp4" in str(e.value)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    with pytest.raises(InputNotFoundError, match="clip.mp4"):
        probe_video(folder)


def test_unsupported_extension(unsupported_file: Path) -> None:
    with pytest.raises(UnsupportedFormatError) as e:
        sample_frames(unsupported_file, 5)
    assert unsupported_file.name in str(e.value)
    assert ".gif" in str(e.value)


@pytest.mark.parametrize("fixture", ["empty_video", "corrupt_video", "text_as_mov"])
def test_undecodable_files(request: pytest.FixtureRequest, fixture: str) -> None:
    path: Path = request.getfixturevalue(fixture)
    for call in (lambda: probe_video(path), lambda: sample_frames(path, 5)):
        with pytest.raises(VideoDecodeError) as e:
            call()
        assert path.name in str(e.value)


def test_empty_file_says_empty(empty_video: Path) -> None:
    with pytest.raises(VideoDecodeError, match="empty"):
        sample_frames(empty_video, 5)


def test_image_with_garbage_content(tmp_path: Path) -> None:
    fake_jpg = tmp_path / "photo.jpg"
    fake_jpg.write_bytes(b"not a jpeg at all" * 10)
    with pytest.raises(VideoDecodeError, match="photo.jpg"):
        sample_frames(fake_jpg, 1)


def test_truncated_video_one_sample_comes_from_what_is_left(truncated_video: Path) -> None:
    # Half the bytes hold only the first half of the frames (the index is at the front,
    # so the file opens). The one sample's target (the middle of the stated duration)
    # lies past the damage, so sampling is redone over the part that decodes: a frame
    # from it, with the damage reported (this used to be "no frame could be decoded").
    info, frames = sample_frames(truncated_video, 1)
    assert len(frames) == 1
    assert frames[0].time_s < info.duration_s / 2
    assert info.damage, "the damage must be reported"


def test_truncated_video_keeps_what_decoded(truncated_video: Path, face_video: Path) -> None:
    # Documented behaviour: a clip that stops decoding part-way gives what decoded
    # before the damage, never frames from beyond it and never an exception.
    info, frames = sample_frames(truncated_video, SAMPLE_FRAMES)
    assert 1 <= len(frames) < SAMPLE_FRAMES
    times = [f.time_s for f in frames]
    assert times == sorted(times) and max(times) < info.duration_s / 2
    assert info.damage, "the damage must be reported, not passed off as a short clip"
    # They are the same pictures as in the intact clip.
    _, intact = sample_frames(face_video, SAMPLE_FRAMES)
    first = frames[0]
    assert np.abs(first.image.astype(int) - intact[first.index].image.astype(int)).max() <= 1


def test_intact_clip_reports_no_damage(face_video: Path) -> None:
    info, _ = sample_frames(face_video, SAMPLE_FRAMES)
    assert info.damage is None


def test_audio_only_file(audio_only_video: Path) -> None:
    with pytest.raises(VideoDecodeError) as e:
        sample_frames(audio_only_video, 5)
    assert "no video stream" in str(e.value)
    assert audio_only_video.name in str(e.value)
