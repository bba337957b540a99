"""dfcore.media.packet_decode: sampling decodes fewer packets and still takes exactly the frames of a full decode.

The reference here decodes every frame of a clip in order and applies the sampling
rule to them (the first frame shown at or after each target, less half a frame, after
the frame taken last; where that is an unreferenced picture and the next, a frame later
in the same GOP and before the next grid time, is a reference, that one);
``sample_frames`` must return the same frames, pixel for pixel, while sending fewer
pictures to the decoder. Clips are written here, small and short,
with the structures that matter: B-frames, short GOPs, I/P only, open GOPs, HEVC, VFR,
and timestamps that are made up in decode order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import SAMPLE_FRAMES

from dfcore.media import video_io
from dfcore.media.packet_decode import Bitstream, Outcome, TargetCursor, TargetRule, plan_gop
from dfcore.media.video_io import sample_frames

FPS = 15
FRAMES = 60  # 4 s at 15 fps
SIZE = (96, 64)
BIG = 4000  # max_side: no downscale, so images compare with the reference's plain RGB conversion


# --------------------------------------------------------------------------- clips


def _pictures(n: int, w: int, h: int) -> list[np.ndarray]:
    # Blocky noise that moves and brightens: every frame differs from its neighbours.
    base = np.random.default_rng(0).integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 8, 0), 8, 1)
    return [np.clip(np.roll(base, 3 * i, axis=1).astype(np.int16) + i % 40, 0, 255).astype(np.uint8)
            for i in range(n)]


def _write(path: Path, options: dict[str, str], codec: str = "libx264", n: int = FRAMES) -> Path:
    w, h = SIZE
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = options
        for i, img in enumerate(_pictures(n, w, h)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _remux(src: Path, dst: Path) -> Path:
    """Copy a clip's packets into an MP4 as they are (timestamps included)."""
    with av.open(str(src)) as inp, av.open(str(dst), mode="w", format="mp4") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.size:
                packet.stream = copy
                out.mux(packet)
    return dst


CLIPS: dict[str, Callable[[Path], Path]] = {
    "b_frames": lambda d: _write(d / "b.mp4", {"bf": "3"}),
    "b_frames_short_gop": lambda d: _write(d / "bg.mp4", {"bf": "3", "g": "10"}),
    # Longer than the sample grid (100 times): samples every few frames, so they may move to a reference.
    "b_frames_long": lambda d: _write(d / "bl.mp4", {"bf": "3", "g": "100"}, n=5 * FRAMES),
    "ip_short_gop": lambda d: _write(d / "ip.mp4", {"bf": "0", "g": "10"}),
    "open_gop": lambda d: _write(d / "open.mp4", {"x264-params": "keyint=20:open-gop=1:bframes=3"}),
    "b_pyramid": lambda d: _write(d / "pyr.mp4", {"x264-params": "bframes=6:b-pyramid=normal:ref=4:keyint=30"}),
    # Picture-timing SEI in every packet, non-reference B-frames included.
    "sei_every_frame": lambda d: _write(d / "sei.mp4", {"x264-params": "keyint=30:nal-hrd=vbr:vbv-maxrate=500:"
                                                        "vbv-bufsize=1000", "b": "300k"}),
    "matroska": lambda d: _write(d / "m.mkv", {"bf": "3", "g": "25"}),
    # AVI stores no presentation times: FFmpeg numbers packets in decode order (plain decode only).
    "avi": lambda d: _write(d / "a.avi", {"bf": "3", "g": "20"}),
    # The same made-up times kept in an MP4: B-frames whose timestamps say nothing of display order.
    "avi_remuxed_to_mp4": lambda d: _remux(_write(d / "r.avi", {"bf": "3", "g": "20"}), d / "r.mp4"),
    "hevc_closed_gop": lambda d: _write(d / "h.mp4", {"x265-params": "keyint=15:open-gop=0:log-level=error"},
                                        "libx265"),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("decode_plan")
    return {name: make(folder) for name, make in CLIPS.items()}


# --------------------------------------------------------------------------- the reference


# Clips whose pictures the plan cannot trust to be references or not: decoded plainly, so no
# sample moves to the reference picture after its frame.
PLAIN_ONLY = {"avi", "avi_remuxed_to_mp4"}


@dataclass
class Decoded:
    time_s: float  # presentation time on the stream's clock
    image: np.ndarray
    disposable: bool = False  # no other picture refers to it (as the packet's NAL units say)
    starts_gop: bool = False  # an IDR picture: a GOP of its own starts here


def decode_all(path: Path) -> tuple[list[Decoded], float, float]:
    """Every frame, in the order the decoder returns them; the stream's start time and fps."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        fps = float(stream.average_rate or stream.guessed_rate)
        bitstream = Bitstream.of(stream)
        kinds = {p.pts: bitstream.classify(p) for p in container.demux(stream) if p.size} if bitstream else {}
        container.seek(0, stream=stream)
        frames = []
        for f in container.decode(stream):
            kind = kinds.get(f.pts)
            frames.append(Decoded(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24"),
                                  kind is not None and kind.disposable, kind is not None and kind.starts_gop))
    return frames, start, fps


def reference_pick(frames: list[Decoded], targets: list[float], fps: float, step_s: float = math.inf,
                   snap: bool = False) -> list[Decoded]:
    """The sampling rule over a full decode: per target, the first frame after the last one taken
    (with ``snap``, the reference picture after it where the rule allows)."""
    taken, served = _pick(frames, targets, fps, step_s, math.inf if snap else -math.inf)
    if snap and not served:
        # A target past the last frame: the plan decodes the last GOP plainly, as the plain decode
        # reads it to the end, so no sample moves there.
        last_gop = max((f.time_s for f in frames if f.starts_gop), default=-math.inf)
        taken, _ = _pick(frames, targets, fps, step_s, last_gop)
    return taken


def _pick(frames: list[Decoded], targets: list[float], fps: float, step_s: float,
          snap_before: float) -> tuple[list[Decoded], bool]:
    """The frames taken, moving samples only before ``snap_before``; whether every target was served."""
    half, eps = 0.5 / fps, 1e-6
    taken: list[Decoded] = []
    last, i = -math.inf, 0
    for target in targets:
        if target <= last:
            continue  # the frame taken already covers it
        while i < len(frames) and frames[i].time_s < target - half - eps:
            i += 1
        if i == len(frames):
            return taken, False
        if (frames[i].time_s < snap_before and frames[i].disposable and i + 1 < len(frames)
                and not frames[i + 1].disposable and not frames[i + 1].starts_gop
                and frames[i + 1].time_s - frames[i].time_s <= 1 / fps + eps
                and frames[i + 1].time_s < target + step_s - half - 2 * eps):
            i += 1
        taken.append(frames[i])
        last = frames[i].time_s
        i += 1
    return taken, True


@dataclass
class Sampled:
    frames: list[video_io.SampledFrame]
    targets: list[float]  # the target times sample_frames decoded for
    decoded: int  # pictures it sent to the decoder
    step_s: float  # seconds between grid times


def sample(path: Path, n: int, monkeypatch: pytest.MonkeyPatch, exact: bool = False) -> Sampled:
    """sample_frames, recording the targets it asked the decoder for and what that cost."""
    calls: list[tuple[list[float], float, video_io._DecodeRun]] = []
    real = video_io._decode_targets

    def spy(container, stream, plan):  # noqa: ANN001, ANN202 - same signature as the real one
        run = real(container, stream, plan)
        calls.append((list(plan.targets), plan.step_s, run))
        return run

    monkeypatch.setattr(video_io, "_decode_targets", spy)
    _, frames = sample_frames(path, n, max_side=BIG, exact=exact)
    monkeypatch.undo()
    assert len(calls) == 1, "an intact clip is decoded in one pass"
    targets, step_s, run = calls[0]
    return Sampled(frames, targets, run.decoded, step_s)


def assert_same_as_full_decode(path: Path, n: int, monkeypatch: pytest.MonkeyPatch, snap: bool = True,
                               exact: bool = False) -> Sampled:
    got = sample(path, n, monkeypatch, exact)
    frames, start, fps = decode_all(path)
    want = reference_pick(frames, got.targets, fps, got.step_s, snap and not exact)
    assert [f.time_s for f in got.frames] == [w.time_s - start for w in want]
    assert [f.index for f in got.frames] == [int(round((w.time_s - start) * fps)) for w in want]
    for f, w in zip(got.frames, want):
        assert np.array_equal(f.image, w.image), f"frame {f.index} differs from the full decode's"
    return got


# --------------------------------------------------------------------------- same frames


@pytest.mark.parametrize("name", list(CLIPS))
@pytest.mark.parametrize("n", [1, 3, 7, 20, 45, 100])
def test_same_frames_as_a_full_decode(clips: dict[str, Path], name: str, n: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_as_full_decode(clips[name], n, monkeypatch, snap=name not in PLAIN_ONLY)


@pytest.mark.parametrize("name", ["b_frames", "b_pyramid", "open_gop"])
@pytest.mark.parametrize("n", [7, 20, 45])
def test_exact_takes_each_targets_own_first_frame(clips: dict[str, Path], name: str, n: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_as_full_decode(clips[name], n, monkeypatch, exact=True)


@pytest.mark.parametrize("n", [20, 100])
def test_samples_move_to_reference_pictures_and_decode_fewer(clips: dict[str, Path], n: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Samples every 3rd frame (on the 100-time grid) of a clip in which x264 left about a third of the
    # pictures unreferenced: the exact rule lands on some of them and decodes them on top of the references.
    path = clips["b_frames_long"]
    exact = assert_same_as_full_decode(path, n, monkeypatch, exact=True)
    moved = assert_same_as_full_decode(path, n, monkeypatch)
    assert len(moved.frames) == len(exact.frames) == n
    shifts = [round((m.time_s - e.time_s) * FPS) for m, e in zip(moved.frames, exact.frames)]
    assert set(shifts) == {0, 1}, shifts  # never more than a frame later, and some moved
    assert [m.position for m in moved.frames] == [e.position for e in exact.frames]
    assert moved.decoded < exact.decoded, (moved.decoded, exact.decoded)


def test_moved_samples_do_not_depend_on_the_other_positions_decoded(clips: dict[str, Path]) -> None:
    # The dashboard decodes 20 samples, then the 80 others of 100 when the slider moves: each grid
    # position must get the frame a 100-frame decode gives it.
    path = clips["b_frames_long"]
    _, whole = sample_frames(path, 100, max_side=BIG)
    _, first = sample_frames(path, 20, max_side=BIG)
    held = {f.position for f in first}
    _, rest = sample_frames(path, 100, max_side=BIG, positions=set(range(100)) - held)
    joined = sorted(first + rest, key=lambda f: f.position)
    assert [(f.position, f.time_s) for f in joined] == [(f.position, f.time_s) for f in whole]


@pytest.mark.parametrize("n", [1, 4, 10, 30, 100])
def test_same_frames_on_the_fixture_clips(face_video: Path, vfr_video: Path, n: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_as_full_decode(face_video, n, monkeypatch)
    assert_same_as_full_decode(vfr_video, n, monkeypatch)


# --------------------------------------------------------------------------- fewer pictures decoded


def test_sparse_samples_skip_whole_gops(clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 samples, 1.5 s apart (no seek between them), in a clip with a keyframe every 10 frames:
    # a full decode reads ~55 frames up to the last one; only the samples' GOPs are needed.
    got = assert_same_as_full_decode(clips["ip_short_gop"], 4, monkeypatch)
    assert got.decoded <= 4 * 10, got.decoded


def test_dense_samples_skip_unreferenced_b_frames(clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Every other frame of a one-GOP clip in which x264 left 20 of the 60 pictures unreferenced:
    # those are decoded only when taken (about half of them), everything else is needed.
    path = clips["b_frames"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        bitstream = Bitstream.of(stream)
        assert bitstream is not None
        unreferenced = sum(bitstream.classify(p).disposable for p in container.demux(stream) if p.size)
    assert unreferenced >= 10
    got = assert_same_as_full_decode(path, FRAMES // 2, monkeypatch)
    assert len(got.frames) == FRAMES // 2
    assert got.decoded <= FRAMES - unreferenced // 3, got.decoded


def test_taking_every_frame_decodes_each_once(face_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got = assert_same_as_full_decode(face_video, SAMPLE_FRAMES, monkeypatch)
    assert got.decoded == SAMPLE_FRAMES


def test_made_up_timestamps_are_decoded_plainly(clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Timestamps in decode order with unreferenced pictures: display order is unknown, so
    # nothing may be skipped inside a GOP (whole GOPs still are, before the plain decode starts).
    got = assert_same_as_full_decode(clips["avi_remuxed_to_mp4"], 2, monkeypatch, snap=False)
    assert got.decoded >= 20


# --------------------------------------------------------------------------- the plan alone


def _cursor(targets: list[float], fps: float = 10.0) -> TargetCursor:
    return TargetCursor(TargetRule(tuple(targets), 0.0, 0.5 / fps, 1e-6, 2.0))


# Decode order of an I P B B P B B GOP at 10 fps: (presentation time, disposable).
IPBB = [(0.0, False), (0.3, False), (0.1, True), (0.2, True), (0.6, False), (0.4, True), (0.5, True)]


def test_plan_skips_unreferenced_pictures_not_taken_and_all_after_the_last_taken() -> None:
    times, disposable = zip(*IPBB)
    plan = plan_gop(times, disposable, _cursor([0.2, 0.31]))
    assert plan.chosen == [3, 1]  # 0.2 (a B-frame) and 0.3, in presentation order
    assert plan.send == [0, 1, 3]  # not the B at 0.1; nothing after 0.2's packet in decode order
    assert plan.outcome is Outcome.DONE


def test_plan_moves_a_sample_from_an_unreferenced_picture_to_the_reference_after_it() -> None:
    times, disposable = zip(*IPBB)
    rule = TargetRule((0.1, 0.2), 0.0, 0.05, 1e-6, 2.0, snap_s=0.1, step_s=0.3)
    plan = plan_gop(times, disposable, TargetCursor(rule))
    # 0.1's frame is unreferenced and so is the one after it: it stays. 0.2's moves to the P at 0.3.
    assert [times[i] for i in plan.chosen] == [0.1, 0.3]
    assert plan.send == [0, 1, 2]  # the B at 0.2 is no longer decoded
    # Where the next grid time is a frame away, the reference after it is that time's frame: nothing moves.
    dense = TargetRule((0.2,), 0.0, 0.05, 1e-6, 2.0, snap_s=0.1, step_s=0.1)
    assert [times[i] for i in plan_gop(times, disposable, TargetCursor(dense)).chosen] == [0.2]


def test_plan_of_a_gop_without_targets_sends_nothing() -> None:
    times, disposable = zip(*IPBB)
    cursor = _cursor([0.9])
    plan = plan_gop(times, disposable, cursor)
    assert plan.send == [] and plan.chosen == []
    assert plan.outcome is Outcome.MORE and cursor.target() == 0.9


def test_plan_stops_for_a_seek_and_skips_covered_targets() -> None:
    times, disposable = zip(*IPBB)
    cursor = _cursor([-0.01, 0.0, 0.45, 3.0])
    plan = plan_gop(times, disposable, cursor)
    assert [times[i] for i in plan.chosen] == [0.0, 0.4]  # the target at 0.0 is covered by the first frame
    assert plan.outcome is Outcome.SEEK  # 3.0 is more than 2 s past the last frame taken
    assert cursor.target() == 3.0


# --------------------------------------------------------------------------- reading packets


def _avcc(*nals: bytes) -> av.Packet:
    return av.Packet(b"".join(len(n).to_bytes(4, "big") + n for n in nals))


H264 = Bitstream("h264", 4)
SLICE_NONREF, SLICE_REF, IDR = b"\x01\x9a\x00", b"\x41\x9a\x00", b"\x65\x88\x80"
SPS, AUD = b"\x67\x64\x00\x0a", b"\x09\xf0"
SEI_PIC_TIMING = b"\x06\x01\x02\x00\x00\x80"  # payload type 1, 2 bytes
SEI_RECOVERY_POINT = b"\x06\x06\x01\xc4\x80"  # payload type 6


@pytest.mark.parametrize(("nals", "disposable"), [
    ((SLICE_NONREF,), True),
    ((AUD, SLICE_NONREF, SLICE_NONREF), True),
    ((SEI_PIC_TIMING, SLICE_NONREF), True),
    ((SLICE_REF,), False),
    ((SLICE_NONREF, SLICE_REF), False),  # one reference slice makes it a reference picture
    ((SPS, SLICE_NONREF), False),  # a parameter set later pictures may need
    ((SEI_RECOVERY_POINT, SLICE_NONREF), False),
    ((AUD,), False),  # no picture at all
])
def test_h264_disposable(nals: tuple[bytes, ...], disposable: bool) -> None:
    assert H264.classify(_avcc(*nals)).disposable is disposable


def test_h264_gop_starts_at_a_keyframe_holding_an_idr() -> None:
    idr = _avcc(SPS, IDR)
    assert not H264.classify(idr).starts_gop  # not flagged as a keyframe by the demuxer
    idr.is_keyframe = True
    assert H264.classify(idr).starts_gop
    recovery_point = _avcc(SEI_RECOVERY_POINT, SLICE_REF)  # an open-GOP keyframe: not an IDR
    recovery_point.is_keyframe = True
    assert not H264.classify(recovery_point).starts_gop


def test_unreadable_packets_are_references() -> None:
    broken = av.Packet(b"\x00\x00\x00\x09" + SLICE_NONREF)  # length runs past the end
    broken.is_keyframe = True
    assert H264.classify(broken) == H264.classify(av.Packet(b"")) == H264.classify(_avcc(b"\x81\x00"))
    assert not H264.classify(broken).disposable and not H264.classify(broken).starts_gop


def test_annex_b_start_codes() -> None:
    annex_b = Bitstream("h264", 0)
    assert annex_b.classify(av.Packet(b"\x00\x00\x00\x01" + AUD + b"\x00\x00\x01" + SLICE_NONREF)).disposable
    assert not annex_b.classify(av.Packet(b"\x00\x00\x01" + SLICE_REF)).disposable
    assert not annex_b.classify(av.Packet(b"\x07" + SLICE_NONREF)).disposable  # no start code


def test_hevc_pictures_are_never_skipped() -> None:
    hevc = Bitstream("hevc", 4)
    idr_w_radl, trail_n = b"\x26\x01\xaf", b"\x00\x01\xd0"  # types 19 and 0 (a non-reference picture)
    key = _avcc(idr_w_radl)
    key.is_keyframe = True
    assert hevc.classify(key).starts_gop
    assert not hevc.classify(_avcc(trail_n)).disposable


def test_other_codecs_are_not_planned(tmp_path: Path) -> None:
    path = _write(tmp_path / "v.mkv", {}, codec="mpeg4", n=10)
    with av.open(str(path)) as container:
        assert Bitstream.of(container.streams.video[0]) is None

