"""One pass over a container: channel 0 of the audio at 16 kHz and the scheduled video frames.

The container is opened and demuxed once. Video packets are held until the demuxer is past the
last scheduled frame (plus a margin), because where OpenCV's seeks land depends on their
timestamps (:func:`probe.opencv_positions`); then they are decoded, and the rest as they come,
until the last scheduled frame is out.

For H.264 and HEVC, frames that are neither scheduled nor referenced by other frames are not
decoded at all (``skip_frame=NONREF`` on exactly those packets): no other frame depends on them,
so the scheduled frames come out the same, bit for bit. Frames are then numbered by their
timestamp's rank among the stream's packets instead of by counting decoder output; if the
decoder ever disagrees with that numbering the video is decoded again from the start without
skipping, which is the plain counting pass.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from avprep.media import audio as audio_mod
from avprep.media import frames as frames_mod
from avprep.media import probe
from avprep.framespec import DEFAULT_SPEC, FrameSpec

# A stream that ends before this share of its declared length (less the slack) is truncated.
_TRUNCATED_SHARE = 0.9
_TRUNCATED_SLACK_S = 0.5
# frames past the last scheduled one whose packet headers are read before decoding starts
_HORIZON_FRAMES = 64
# decoders that read ``skip_frame`` for every frame (others, such as libdav1d, read it once)
_SKIPPING_CODECS = frozenset({"h264", "hevc"})


def reason_of(err: BaseException) -> str:
    """A one-line reason for a log: the exception's type and its message on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class Decoded:
    """Everything one pass over a container produced."""

    def __init__(self) -> None:
        self.samples = None
        self.jpegs: Dict[int, bytes] = {}
        self.audio_error: Optional[str] = None
        self.video_error: Optional[str] = None
        self.truncated: Optional[str] = None
        self.skipped_frames = 0  # frames not decoded: neither scheduled nor referenced


_REFORMATTER = None


def frame_image(frame) -> "Image.Image":
    """A decoded video frame as an RGB PIL image (FFmpeg's rgb24 conversion, as OpenCV's)."""
    global _REFORMATTER
    from PIL import Image

    if _REFORMATTER is None:  # one per process: it keeps its scaler between frames
        from av.video.reformatter import VideoReformatter

        _REFORMATTER = VideoReformatter()
    return Image.fromarray(_REFORMATTER.reformat(frame, format="rgb24").to_ndarray())


class _Restart(Exception):
    """The decoder's output does not follow the timestamp numbering: decode again, counting."""


class _VideoPass:
    """The scheduled frames of one video stream as JPEGs, fed packets in demux order."""

    def __init__(self, container, stream, schedule: List[int], fps: float, threads: int,
                 skip: bool = True, spec: FrameSpec = DEFAULT_SPEC):
        self.stream = stream
        self.spec = spec
        self.context = stream.codec_context
        self.schedule = schedule
        self.fps = fps
        self.by_pts = "matroska" in (container.format.name or "")
        self.allow_skip = skip and self.context.name in _SKIPPING_CODECS
        stream.thread_type = "AUTO" if threads != 1 else "SLICE"
        self.context.thread_count = threads
        self.horizon = None
        if stream.time_base is not None and fps > 0:
            start = stream.start_time or 0
            self.horizon = start + (max(schedule) + _HORIZON_FRAMES) / fps / float(stream.time_base)
        self.held: List = []
        self.started = False
        self.done = False
        self.flushed = False
        self.error: Optional[str] = None
        self.jpegs: Dict[int, bytes] = {}
        self.skipped = 0
        self.wanted: Dict[int, List[int]] = {}
        self.last_needed = -1
        self.kept: List = []  # packets decoded while skipping, replayed by a restart
        self.replay_limit = 0
        self._reset_numbering(skipping=False)

    def _reset_numbering(self, skipping: bool) -> None:
        self.skipping = skipping
        self.count = 0
        self.previous_rank = -1
        self.rank_of_pts: Dict[int, int] = {}
        self.sent: Dict[int, bool] = {}  # rank -> whether its packet was decoded in full

    # feeding ------------------------------------------------------------------------------
    def feed(self, packet) -> None:
        """Take the next video packet from the demuxer (the empty end-of-stream one included)."""
        if self.done:
            return
        if not self.started:
            self.held.append(packet)
            if packet.size == 0 or self._past_horizon(packet):
                self._start()
            return
        self._decode(packet)

    def finish(self) -> None:
        """The demuxer is done (or gave up): decode what is held and flush the decoder."""
        if not self.started:
            self._start()
        if not self.done and not self.flushed:
            self._decode(None)

    def _past_horizon(self, packet) -> bool:
        if self.horizon is not None and packet.dts is not None:
            return packet.dts > self.horizon
        # no timestamps to go by: hold a generous number of frames, no more
        return len(self.held) > 4 * (max(self.schedule) + _HORIZON_FRAMES)

    # the schedule, from the held packet headers -------------------------------------------------
    def _start(self) -> None:
        self.started = True
        held = [p for p in self.held if p.size > 0]
        infos = [probe.PacketInfo(p.pts, p.dts, p.is_keyframe, getattr(p, "is_discard", False))
                 for p in held]
        positions = None
        if self.stream.time_base is not None:
            positions = probe.opencv_positions(infos, self.schedule, self.fps,
                                               float(self.stream.time_base),
                                               self.stream.start_time or 0, self.by_pts)
        for slot, index in enumerate(positions or self.schedule):
            self.wanted.setdefault(index, []).append(slot)
        self.last_needed = max(self.wanted)
        ranks = self._timestamp_ranks(infos) if self.allow_skip else None
        if ranks is not None:
            self._reset_numbering(skipping=True)
            self.rank_of_pts = ranks
            # the last scheduled frame comes out within the held packets and a reorder delay;
            # past that something is off, and the replay must stay as small as what was held
            self.replay_limit = len(self.held) + _HORIZON_FRAMES
        packets, self.held = self.held, []
        for packet in packets:
            if self.done:
                break
            self._decode(packet)

    @staticmethod
    def _timestamp_ranks(infos: List[probe.PacketInfo]) -> Optional[Dict[int, int]]:
        """Output position of each shown frame by its pts, or None when the pts cannot tell."""
        shown = [p.pts for p in infos if not p.discard]
        if not shown or any(pts is None for pts in shown) or len(set(shown)) != len(shown):
            return None
        return {pts: rank for rank, pts in enumerate(sorted(shown))}

    # decoding -----------------------------------------------------------------------------
    def _decode(self, packet) -> None:
        if packet is None or packet.size == 0:
            self.flushed = True
        if self.skipping:
            self.kept.append(packet)
            try:
                if len(self.kept) > self.replay_limit:
                    raise _Restart()
                self._decode_one(packet)
            except _Restart:
                self._restart()
        else:
            self._decode_one(packet)

    def _decode_one(self, packet) -> None:
        if self.skipping and packet is not None and packet.size > 0:
            rank = self.rank_of_pts.get(packet.pts)
            full = rank is not None and rank in self.wanted
            if rank is not None:
                self.sent[rank] = full
            self.context.skip_frame = "DEFAULT" if full else "NONREF"
        try:
            frames = self.stream.decode(packet)
        except Exception as err:  # a corrupt packet: the decoder goes on, as ffmpeg does
            self.error = reason_of(err)
            return
        for frame in frames:
            if self.done:
                break
            self._on_frame(frame)

    def _on_frame(self, frame) -> None:
        if self.skipping:
            rank = self.rank_of_pts.get(frame.pts)
            if rank is None or rank <= self.previous_rank:
                raise _Restart()
            gap = range(self.previous_rank + 1, rank)
            # every frame passed over must be one sent to be skipped
            if any(self.sent.get(r, True) for r in gap):
                raise _Restart()
            self.skipped += len(gap)
            self.previous_rank = rank
        else:
            rank = self.count
            self.count += 1
        if rank in self.wanted:
            image = frames_mod.upright(frame_image(frame), getattr(frame, "rotation", 0))
            jpeg = frames_mod.encode_frame(image, self.spec)
            for slot in self.wanted[rank]:
                self.jpegs[slot] = jpeg
        if rank >= self.last_needed:
            self.done = True

    def _restart(self) -> None:
        """Decode everything seen so far again, without skipping, numbering by count."""
        kept, self.kept = self.kept, []
        self.context.skip_frame = "DEFAULT"
        self._reset_numbering(skipping=False)
        self.jpegs.clear()
        self.skipped = 0
        self.error = None
        self.done = False
        self.context.flush_buffers()
        self.flushed = False
        for packet in kept:
            if self.done:
                break
            self._decode(packet)


def decode_clip(container, astream, vstream, schedule: Optional[List[int]], fps: float,
                threads: int, skip: bool = True, spec: FrameSpec = DEFAULT_SPEC) -> Decoded:
    """Demux ``container`` once: resample channel 0 of ``astream`` (None: no audio) and turn
    the frames of ``vstream`` at ``schedule`` (decoded frame indices) into JPEGs sized and cut as
    ``spec`` says.

    ``skip`` False decodes every frame up to the last scheduled one (for comparisons).
    """
    out = Decoded()
    resampler = audio_mod.Channel0Resampler() if astream is not None else None
    video = (_VideoPass(container, vstream, schedule, fps, threads, skip, spec)
             if vstream is not None and schedule else None)
    streams = [s for s in (astream, vstream if video else None) if s is not None]
    if not streams:  # demux() without streams would read every stream
        return out
    try:
        for packet in container.demux(*streams):
            if video is not None and packet.stream is vstream:
                video.feed(packet)
                if video.done and astream is None:
                    break
            else:
                try:
                    for frame in packet.decode():
                        resampler.push(frame)
                except Exception as err:
                    out.audio_error = reason_of(err)
    except Exception as err:  # the demuxer gave up: what came before is all there is
        out.truncated = f"reading stopped: {reason_of(err)}"
    if video is not None and out.truncated is None:  # a truncated clip's frames are not kept
        video.finish()
        out.jpegs, out.video_error, out.skipped_frames = video.jpegs, video.error, video.skipped
    if resampler is not None:
        try:
            out.samples = resampler.finish()
        except Exception as err:
            out.audio_error = reason_of(err)
            out.samples = None
    if out.truncated is None and astream is not None and out.samples is not None:
        declared = probe.declared_seconds(container, astream)
        got = len(out.samples) / audio_mod.SAMPLE_RATE
        if declared and got < declared * _TRUNCATED_SHARE - _TRUNCATED_SLACK_S:
            out.truncated = f"audio ends at {got:.2f} s of the {declared:.2f} s declared"
    return out
