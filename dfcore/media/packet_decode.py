"""Which packets must reach the decoder to take the frames at a list of target times.

Sampling a clip by time used to decode every frame from the first sample to the
last (seeking only over long gaps), yet most of that work feeds no sample. Packets
are compressed and cheap to hold, so a whole GOP (an IDR picture and the pictures
up to the next one) is demuxed and planned before any of it is decoded:

* a GOP with no sample in it needs none of its packets;
* a GOP's packets after its last sample, in decode order, are never needed;
* an H.264 picture with ``nal_ref_idc == 0`` (most B-frames) is never used to
  decode another one, so it is needed only when it is itself a sample.

Each target takes the first frame shown at or after it (less half a frame), as the
plain decode does, which hands every frame to :class:`TargetCursor` in the order the
decoder returns them; with one exception. Where that frame is an unreferenced picture
and the next one, at most ``TargetRule.snap_s`` later, is a reference picture, the
target takes the reference instead: the two show the same moment to within a frame,
and the reference has to be decoded anyway while the unreferenced one costs a picture
of its own. (x264 leaves about every other picture of a typical clip unreferenced, so
samples a few frames apart land on many of them; measured on a 10 s 720p clip at 100
samples: 149 pictures decoded instead of 200, and a fifth less decoding time.)
The exception holds only where it cannot take another target's frame (the next grid
time is further than the reference picture) and only where the plan knows which
pictures are references; the plain decode, which does not, keeps to the first frame.
Apart from it, the frames taken are exactly those of the plain decode. A GOP is decoded on
its own only where that gives the same pictures: it starts at an IDR picture, after
which no picture refers to an earlier one, and every frame the decoder returns is
checked against the plan. Anything else hands the rest of the run to the plain
decode, from the start of the GOP, where the decoder holds nothing the plain decode
would have had: a codec other than H.264 or HEVC, a container without stored
presentation times (AVI), a packet without a timestamp or two at one time,
unreferenced pictures whose timestamps run in decode order (made up by a remux), a
run that does not start at an IDR picture, an oversized GOP, a frame that does not
come back as planned, a decoding error, and the last GOP when a target is still left
(the plain decode reads it to the end, which decides what damage is reported).

Damaged data is the one place the two can differ: errors inside pictures that are
never decoded go unseen, and error concealment may draw on a picture the plain
decode had and this one skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from itertools import chain
from typing import Generic, TypeVar

import av

from ..deadline import Deadline
from ..deadline import check as check_deadline

# FFmpeg's errors on damaged data, and what absurd timestamps in a damaged header raise.
DECODE_ERRORS = (av.error.FFmpegError, ValueError, OverflowError, ZeroDivisionError)
# Demuxers whose packets carry the presentation times the muxer stored. Others (AVI,
# raw streams) make timestamps up in decode order, which says nothing of display order.
PRESENTATION_TIME_FORMATS = frozenset({"mov", "mp4", "matroska", "webm"})
# A GOP's packets are held until it is planned. Past this size (a huge bitrate, or
# keyframes minutes apart) the run is decoded plainly instead, so memory stays bounded.
MAX_GOP_BYTES = 64 << 20

_START_CODE = b"\x00\x00\x01"
# H.264 NAL unit types.
_H264_SLICE, _H264_IDR, _H264_SEI, _H264_AUD, _H264_FILLER = 1, 5, 6, 9, 12
# SEI payloads that describe only their own picture (picture timing, registered and
# unregistered user data); any other SEI, e.g. a recovery point, keeps its packet.
_SEI_OF_ITS_PICTURE = frozenset({1, 4, 5})
# HEVC NAL unit types: IDR_W_RADL and IDR_N_LP (its leading pictures refer only to it).
_HEVC_IDR = frozenset({19, 20})
_HEVC_FIRST_NON_VCL = 32

T = TypeVar("T")


class Outcome(Enum):
    MORE = "more"  # targets are left past this GOP
    DONE = "done"  # every target has its frame
    SEEK = "seek"  # the next target is far ahead: seek to it
    EOF = "eof"  # the stream ended


@dataclass(frozen=True)
class TargetRule:
    """Which frame each target time takes; both decoding paths follow it."""

    targets: tuple[float, ...]  # sample times in seconds on the stream's clock, increasing
    start_s: float  # the stream's start time: the first target seeks only when it is far from it
    half_frame_s: float  # a frame up to half a frame period before its target still takes it
    eps_s: float  # slack for rounding in timestamps
    seek_gap_s: float  # seek when the next target is further than this past the last frame taken
    # A target whose frame is an unreferenced picture takes the next picture instead when that one is a
    # reference at most this much later (0: never). Only the planned decode knows which pictures are references.
    snap_s: float = 0.0
    # Seconds from a target to the next time of its grid (inf: no next one). A target never takes a frame as
    # late as the next grid time's earliest frame, whether that time is asked for in this pass or not, so the
    # frame a grid position gets does not depend on which other positions are decoded with it.
    step_s: float = math.inf


@dataclass
class TargetCursor:
    """Where sampling stands: the next target and the last frame taken."""

    rule: TargetRule
    index: int = 0  # the next target
    last_s: float = -math.inf  # time of the last frame taken
    in_run: bool = False  # a frame was taken since the last seek (or the start)

    def target(self) -> float | None:
        """The next target still without a frame; None when all have one."""
        targets = self.rule.targets
        while self.index < len(targets) and targets[self.index] <= self.last_s:
            self.index += 1  # the frame already taken covers this target (short clip)
        return targets[self.index] if self.index < len(targets) else None

    def accepts(self, t: float) -> bool:
        """Whether a frame at ``t`` (the next one the decoder returns) is the next target's frame."""
        target = self.target()
        return target is not None and t >= target - self.rule.half_frame_s - self.rule.eps_s

    def may_snap(self, frame_s: float, reference_s: float) -> bool:
        """Whether the next target, whose frame is the unreferenced picture at ``frame_s``, may take the
        reference picture at ``reference_s`` (the next one shown) instead."""
        target, rule = self.target(), self.rule
        if target is None or rule.snap_s <= 0:
            return False
        next_earliest = target + rule.step_s - rule.half_frame_s - rule.eps_s
        return reference_s - frame_s <= rule.snap_s + rule.eps_s and reference_s < next_earliest - rule.eps_s

    def take(self, t: float) -> None:
        """Record that the frame at ``t`` was taken for the next target."""
        self.last_s = t
        self.index += 1
        self.in_run = True

    def next_step(self) -> Outcome | None:
        """DONE when every target has a frame, SEEK when the next one is far ahead, else None."""
        target = self.target()
        if target is None:
            return Outcome.DONE
        if self.in_run and target - self.last_s > self.rule.seek_gap_s:
            return Outcome.SEEK
        return None


@dataclass(frozen=True)
class GopPlan:
    send: list[int]  # positions (decode order) of the packets to decode, in that order
    chosen: list[int]  # positions of the packets whose frames are taken, in presentation order
    outcome: Outcome  # MORE, DONE or SEEK


def plan_gop(times: Sequence[float], disposable: Sequence[bool], cursor: TargetCursor) -> GopPlan:
    """Choose a GOP's frames for the cursor's targets, and the packets that decoding them needs.

    The decoder returns a GOP's frames in presentation order, so the plain decode
    would take, for each target, the earliest frame after the last one taken that
    the cursor accepts; the same frames are chosen here from the timestamps alone,
    except that an unreferenced picture gives way to the reference picture shown
    right after it where the cursor allows (:meth:`TargetCursor.may_snap`).

    Args:
        times: each packet's presentation time, in decode order (distinct).
        disposable: whether each packet's picture is never used to decode another.
        cursor: where sampling stands; advanced past the targets this GOP serves.

    Returns:
        The packets to send: in decode order up to the last chosen one, without the
        disposable pictures that are not chosen. Nothing when no target falls here.
    """
    order = sorted(range(len(times)), key=times.__getitem__)
    chosen: list[int] = []
    pos = 0
    while (outcome := cursor.next_step()) is None:
        while pos < len(order) and not cursor.accepts(times[order[pos]]):
            pos += 1
        if pos == len(order):
            outcome = Outcome.MORE
            break
        if (disposable[order[pos]] and pos + 1 < len(order) and not disposable[order[pos + 1]]
                and cursor.may_snap(times[order[pos]], times[order[pos + 1]])):
            pos += 1  # the reference picture right after it: decoded anyway, the same moment to within a frame
        chosen.append(order[pos])
        cursor.take(times[order[pos]])
        pos += 1
    picked = set(chosen)
    last = max(chosen, default=-1)
    return GopPlan([i for i in range(last + 1) if i in picked or not disposable[i]], chosen, outcome)


@dataclass(frozen=True)
class PacketKind:
    starts_gop: bool  # a keyframe holding an IDR picture: nothing after it refers to anything before it
    disposable: bool  # no other picture refers to this one


_REFERENCE = PacketKind(starts_gop=False, disposable=False)


@dataclass(frozen=True)
class Bitstream:
    """How to read the NAL units of a stream's packets (H.264 and HEVC only)."""

    codec: str  # "h264" or "hevc"
    length_size: int  # bytes of each NAL unit's length prefix (avcC/hvcC); 0 for Annex-B start codes

    @classmethod
    def of(cls, stream: av.video.stream.VideoStream) -> Bitstream | None:
        """The stream's bitstream layout; None when its packets cannot be planned.

        Args:
            stream: a video stream.

        Returns:
            A :class:`Bitstream` for H.264 or HEVC with a layout read from its
            extradata (avcC/hvcC, or Annex-B); None for any other codec or layout.
        """
        ctx = stream.codec_context
        name = ctx.name if ctx is not None else None
        if name not in ("h264", "hevc"):
            return None
        extra = bytes(ctx.extradata or b"")
        if not extra or extra.startswith((_START_CODE, b"\x00" + _START_CODE)):
            return cls(name, 0)
        # avcC keeps lengthSizeMinusOne in byte 4, hvcC in byte 21; 3 bytes is not a valid size.
        at = 4 if name == "h264" else 21
        if extra[0] != 1 or len(extra) <= at or (extra[at] & 3) == 2:
            return None
        return cls(name, (extra[at] & 3) + 1)

    def classify(self, packet: av.packet.Packet) -> PacketKind:
        """Whether a packet begins a GOP and whether its picture may be left undecoded.

        Args:
            packet: a demuxed packet of this stream.

        Returns:
            Its :class:`PacketKind`; a reference picture that starts nothing when its
            NAL units cannot be read (never skip on doubt).
        """
        nals = _split_nals(memoryview(bytes(packet)), self.length_size)
        if not nals:
            return _REFERENCE
        if self.codec == "h264":
            return _h264_kind(nals, packet.is_keyframe)
        return _hevc_kind(nals, packet.is_keyframe)


def _split_nals(data: memoryview, length_size: int) -> list[memoryview] | None:
    """The packet's NAL units (header byte first), or None when it does not parse."""
    if length_size:
        nals, pos = [], 0
        while pos < len(data):
            size = int.from_bytes(data[pos : pos + length_size], "big")
            pos += length_size
            if size == 0 or pos + size > len(data):
                return None
            nals.append(data[pos : pos + size])
            pos += size
        return nals
    raw = data.tobytes()
    begin = raw.find(_START_CODE)
    if begin < 0 or raw[:begin].strip(b"\x00"):
        return None
    starts = []
    while begin >= 0:
        starts.append(begin + 3)
        begin = raw.find(_START_CODE, begin + 3)
    nals = []
    for s, e in zip(starts, [n - 3 for n in starts[1:]] + [len(raw)]):
        while e > s and raw[e - 1] == 0:
            e -= 1  # zeros before a start code belong to it (or pad the stream), not to this unit
        if e == s:
            return None
        nals.append(data[s:e])
    return nals


def _h264_kind(nals: list[memoryview], is_keyframe: bool) -> PacketKind:
    first_slice = None
    has_slice, disposable = False, True
    for nal in nals:
        header = nal[0]
        if header & 0x80:  # forbidden_zero_bit: not a NAL unit this reads
            return _REFERENCE
        kind, ref_idc = header & 0x1F, header >> 5
        if first_slice is None and _H264_SLICE <= kind <= _H264_IDR:
            first_slice = kind
        if kind == _H264_SLICE and ref_idc == 0:
            has_slice = True
        elif kind in (_H264_AUD, _H264_FILLER) or (kind == _H264_SEI and _sei_of_its_picture(nal)):
            pass  # carry nothing another picture needs
        else:
            # A reference slice, or a parameter set, partition, extension... that others may need.
            disposable = False
    return PacketKind(starts_gop=is_keyframe and first_slice == _H264_IDR, disposable=disposable and has_slice)


def _sei_of_its_picture(nal: memoryview) -> bool:
    """Whether an H.264 SEI NAL unit holds only messages about its own picture."""
    # Emulation prevention: 00 00 03 in the NAL unit stands for 00 00 in the payload.
    rbsp = nal[1:].tobytes().replace(b"\x00\x00\x03", b"\x00\x00")
    pos = 0
    try:
        while pos < len(rbsp) - 1:  # the last byte is the rbsp trailing bits
            payload_type, pos = _sei_number(rbsp, pos)
            payload_size, pos = _sei_number(rbsp, pos)
            if payload_type not in _SEI_OF_ITS_PICTURE:
                return False
            pos += payload_size
    except IndexError:
        return False
    return pos == len(rbsp) - 1 and rbsp[pos] == 0x80


def _sei_number(rbsp: bytes, pos: int) -> tuple[int, int]:
    """An SEI payload type or size (0xFF bytes each add 255), and the position after it."""
    value = 0
    while rbsp[pos] == 0xFF:
        value += 255
        pos += 1
    return value + rbsp[pos], pos + 1


def _hevc_kind(nals: list[memoryview], is_keyframe: bool) -> PacketKind:
    for nal in nals:
        if len(nal) < 2 or nal[0] & 0x80:
            return _REFERENCE
        kind, layer = (nal[0] >> 1) & 0x3F, ((nal[0] & 1) << 5) | (nal[1] >> 3)
        if kind < _HEVC_FIRST_NON_VCL:  # the picture's first slice names its type
            # Non-reference HEVC pictures are never skipped: sub-layer rules make that a risk.
            return PacketKind(starts_gop=is_keyframe and layer == 0 and kind in _HEVC_IDR, disposable=False)
    return _REFERENCE


@dataclass(frozen=True)
class _Held:
    packet: av.packet.Packet
    pts: int
    time_s: float
    disposable: bool


class _Mismatch(Exception):
    """The decoder returned a frame other than the plan expected."""


class TargetDecoder(Generic[T]):
    """Take the frame for each target of a :class:`TargetRule`, decoding as few packets as that allows.

    Seeks exactly where the plain decode does (the first target when it is far from
    the start, and the next target whenever it is far past the last frame taken), so
    each run of decoding starts where the plain decode's does and takes the same frames
    (but where a target takes the reference picture after its own, see the module's notes).
    :attr:`frames`, :attr:`last_time` and :attr:`decoded` hold what was done so far,
    also after :meth:`run` raised.
    """

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        rule: TargetRule,
        take: Callable[[av.VideoFrame, float], T],
        time_of: Callable[[av.VideoFrame], float | None],
        seek: Callable[[float], None],
        deadline: Deadline | None = None,
    ) -> None:
        """Set up one sampling pass over a stream; :meth:`run` does it.

        Args:
            container: the open file.
            stream: its video stream, with threading set up.
            rule: the targets and the rule that picks their frames.
            take: turns a decoded frame and its time into what :attr:`frames` keeps.
            time_of: a decoded frame's presentation time in seconds (None when unknown).
            seek: moves the container to the keyframe at or before a time (and flushes the decoder).
            deadline: checked for every packet decoded (and every one demuxed).
        """
        self.frames: list[T] = []  # what take() made of the frames taken, in time order
        self.last_time = -math.inf  # time of the last frame decoded (the plain decode's: every one it saw)
        self.decoded = 0  # pictures sent to the decoder
        self._container, self._stream, self._rule = container, stream, rule
        self._take, self._time_of, self._seek, self._deadline = take, time_of, seek, deadline
        self._cursor = TargetCursor(rule)
        self._ctx = stream.codec_context
        formats = set((container.format.name or "").split(","))
        self._bitstream = Bitstream.of(stream) if stream.time_base and formats & PRESENTATION_TIME_FORMATS else None

    def run(self) -> None:
        """Decode until every target has its frame or the stream ends.

        Raises:
            One of DECODE_ERRORS: the file is damaged (what was taken before stays in :attr:`frames`).
            AnalysisTimeoutError: the deadline passed.
        """
        first = True
        while (target := self._cursor.target()) is not None:
            if not first or target - self._rule.start_s > self._rule.seek_gap_s:
                self._seek(target)
            first = False
            self._cursor.in_run = False
            packets = self._container.demux(self._stream)
            end = self._plain(packets) if self._bitstream is None else self._planned(packets, self._bitstream)
            if end is not Outcome.SEEK:
                return  # DONE, or the stream ended

    def _plain(self, packets: Iterable[av.packet.Packet]) -> Outcome:
        """The plain decode: every packet, each frame offered to the cursor as the decoder returns it."""
        for packet in packets:
            if packet.size:  # not PyAV's empty flush packet
                self.decoded += 1
            for frame in packet.decode():
                # Checked per decoded frame: a seek can land far before its target.
                check_deadline(self._deadline, "decoding")
                t = self._time_of(frame)
                if t is None:
                    continue
                self.last_time = t
                if self._cursor.accepts(t):
                    self._cursor.take(t)
                    self.frames.append(self._take(frame, t))
                    if (end := self._cursor.next_step()) is not None:
                        return end
        return Outcome.EOF  # the clip is shorter than its header says, or the targets run past its end

    def _planned(self, packets: Iterator[av.packet.Packet], bitstream: Bitstream) -> Outcome:
        """One run, GOP by GOP: hold a GOP's packets, then decode only those its samples need."""
        gop: list[_Held] = []
        size = 0
        for packet in packets:
            check_deadline(self._deadline, "decoding")
            if packet.size == 0:  # PyAV's flush packet: the stream has ended
                return self._finish(gop, chain([packet], packets), final=True)
            kind = bitstream.classify(packet)
            if kind.starts_gop and gop:
                end = self._finish(gop, chain([packet], packets), final=False)
                if end is not None:
                    return end
                gop, size = [], 0
            size += packet.size
            if packet.pts is None or not (gop or kind.starts_gop) or size > MAX_GOP_BYTES:
                # No plan here (no timestamp, a run not starting at an IDR picture, a GOP too
                # large to hold): decode plainly from the GOP's start, where the state is clean.
                return self._plain(chain([h.packet for h in gop], [packet], packets))
            time_s = float(packet.pts * self._stream.time_base)
            gop.append(_Held(packet, packet.pts, time_s, kind.disposable))
        return self._finish(gop, iter(()), final=True)

    def _finish(self, gop: list[_Held], rest: Iterator[av.packet.Packet], final: bool) -> Outcome | None:
        """Decode a complete GOP as planned; the run's outcome, or None to go on to the next GOP."""
        times = [h.time_s for h in gop]
        if len(set(times)) < len(times) or len({h.pts for h in gop}) < len(gop):
            return self._hand_over(gop, rest)  # two pictures at one time: the plan cannot tell them apart
        if any(h.disposable for h in gop) and all(a.pts < b.pts for a, b in zip(gop, gop[1:])):
            # Unreferenced pictures yet timestamps in decode order: they may be made up (a remuxed
            # AVI), and then only the decoder knows the display order.
            return self._hand_over(gop, rest)
        cursor = replace(self._cursor)
        plan = plan_gop(times, [h.disposable for h in gop], cursor)
        if plan.outcome is Outcome.MORE and final:
            # The plain decode reads the last GOP to its end: where the stream stops (and any
            # damage there) decides what is reported, so read it the same way.
            return self._hand_over(gop, rest)
        if plan.send:
            kept = len(self.frames)
            try:
                self._decode(gop, plan)
            except (_Mismatch, *DECODE_ERRORS):
                del self.frames[kept:]
                return self._hand_over(gop, rest)
            self.last_time = cursor.last_s
        self._cursor = cursor
        return None if plan.outcome is Outcome.MORE else plan.outcome

    def _decode(self, gop: list[_Held], plan: GopPlan) -> None:
        """Send the planned packets, drain the decoder and keep the chosen frames."""
        # Frames come back in presentation order, one for each packet sent.
        expected = iter(sorted(plan.send, key=lambda i: gop[i].time_s))
        chosen = set(plan.chosen)
        for i in plan.send:
            check_deadline(self._deadline, "decoding")
            self.decoded += 1
            self._receive(self._ctx.decode(gop[i].packet), gop, expected, chosen)
        self._receive(self._ctx.decode(None), gop, expected, chosen)
        self._ctx.flush_buffers()  # ready for the next GOP after the drain
        if next(expected, None) is not None:
            raise _Mismatch("a planned frame did not come back")

    def _receive(self, frames: list[av.VideoFrame], gop: list[_Held], expected: Iterator[int],
                 chosen: set[int]) -> None:
        for frame in frames:
            i = next(expected, None)
            t = self._time_of(frame)
            if i is None or frame.pts != gop[i].pts or t != gop[i].time_s:
                raise _Mismatch(f"frame at pts {frame.pts} came back out of plan")
            if i in chosen:
                self.frames.append(self._take(frame, t))

    def _hand_over(self, gop: list[_Held], rest: Iterator[av.packet.Packet]) -> Outcome:
        """Decode the rest of the run plainly, from the start of this GOP."""
        self._ctx.flush_buffers()
        return self._plain(chain([h.packet for h in gop], rest))


__all__ = [
    "DECODE_ERRORS", "MAX_GOP_BYTES", "Outcome", "TargetRule", "TargetCursor", "GopPlan", "plan_gop",
    "PacketKind", "Bitstream", "TargetDecoder",
]
