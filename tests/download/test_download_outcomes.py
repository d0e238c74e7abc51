"""What each failure is (yt-dlp's exception types and messages, ffmpeg's log lines), the download
log, the pace arithmetic, the default format choice, and how yt-dlp finds ffmpeg per worker."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, UnsupportedError

from avprep.download.log import DownloadLog, default_log_path, read_download_log
from avprep.download.outcomes import (RATE_LIMITED, TRANSIENT, UNAVAILABLE, classify_exception,
                                      classify_ffmpeg, classify_message)
from avprep.download.pacing import MAX_BACKOFF, Pacer
from avprep.download.source import extractor_for, ydl_params
from avprep.errors import FormatError
from avprep.synth import ffmpeg_exe


def _wrapped(exc: BaseException) -> DownloadError:
    """As ``YoutubeDL.extract_info`` raises it: a DownloadError holding the original."""
    return DownloadError(f"ERROR: {exc}", exc_info=(type(exc), exc, None))


def _http(status: int) -> HTTPError:
    return HTTPError(Response(io.BytesIO(b""), "https://www.youtube.com/watch?v=x", {},
                              status=status))


def _extractor(msg: str, cause: BaseException = None) -> ExtractorError:
    return ExtractorError(msg, expected=cause is None, cause=cause, video_id="-0RWZT-miFs",
                          ie="youtube")


@pytest.mark.parametrize("exc, kind, reason", [
    (_extractor("Private video. Sign in if you've been granted access to this video"),
     UNAVAILABLE, "private video"),
    (_extractor("Video unavailable. This video has been removed by the uploader"),
     UNAVAILABLE, "removed"),
    (_extractor("Video unavailable. This video is no longer available because the YouTube "
                "account associated with this video has been terminated."),
     UNAVAILABLE, "the uploader's account was terminated"),
    (_extractor("Video unavailable. This video is no longer available due to a copyright "
                "claim by Some Label"), UNAVAILABLE, "taken down for copyright"),
    (_extractor("This video has been removed for violating YouTube's Terms of Service"),
     UNAVAILABLE, "removed for violating the terms of service"),
    (GeoRestrictedError("The uploader has not made this video available in your country"),
     UNAVAILABLE, "not available in this country"),
    (_extractor("Video unavailable"), UNAVAILABLE, "video unavailable"),
    (UnsupportedError("http://127.0.0.1/page"), UNAVAILABLE,
     "not a video page (unsupported URL)"),
    (_extractor("Unable to download webpage: HTTP Error 404: Not Found", _http(404)),
     UNAVAILABLE, "not found (HTTP 404)"),
    (_extractor("Unable to download webpage: HTTP Error 410: Gone", _http(410)),
     UNAVAILABLE, "not found (HTTP 410)"),
    (_extractor("Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or "
                "--cookies for the authentication."), RATE_LIMITED,
     "YouTube asks to sign in to confirm this is not a bot"),
    (_extractor("Unable to download webpage: HTTP Error 429: Too Many Requests", _http(429)),
     RATE_LIMITED, "HTTP 429 Too Many Requests"),
    (_extractor("This content isn't available, try again later."), RATE_LIMITED,
     "the site says to try again later"),
    (_extractor("Your IP is likely being blocked by Youtube (rate-limit)"), RATE_LIMITED,
     "rate-limited by the site"),
    (_extractor("Unable to download webpage: HTTP Error 503: Service Unavailable", _http(503)),
     TRANSIENT, "server error (HTTP 503)"),
    (_extractor("Unable to download webpage: The read operation timed out",
                TransportError("The read operation timed out")), TRANSIENT, None),
    (_extractor("Unable to download webpage: Connection reset by peer",
                TransportError("[Errno 104] Connection reset by peer")), TRANSIENT, None),
    (_extractor("Unable to download webpage", IncompleteRead(100, 1000)), TRANSIENT,
     "truncated transfer"),
    (_extractor("Unable to extract yt initial data", RuntimeError("parser broke")),
     TRANSIENT, None),
])
def test_yt_dlp_errors(exc, kind, reason):
    for raised in (exc, _wrapped(exc)):
        failure = classify_exception(raised)
        assert failure.kind == kind, (raised, failure)
        if reason is not None:
            assert failure.reason == reason


def test_an_id_in_the_message_is_not_read_as_a_status():
    """yt-dlp starts messages with '[youtube] <id>:'; an id like 'x-429-abcde' is no 429."""
    assert classify_message("ERROR: [youtube] a-429-bcdef: Video unavailable").kind == UNAVAILABLE
    assert classify_message("[youtube] a-404-bcdef: Unable to extract").kind == TRANSIENT


@pytest.mark.parametrize("stderr, kind", [
    ("[https @ 0x1] HTTP error 404 Not Found\nError opening input", UNAVAILABLE),
    ("[https @ 0x1] HTTP error 429 Too Many Requests", RATE_LIMITED),
    ("[https @ 0x1] HTTP error 403 Forbidden", TRANSIENT),
    ("[http @ 0x1] Server returned 5XX Server Error reply", TRANSIENT),
    ("[http @ 0x1] Stream ends prematurely at 60000, should be 262098", TRANSIENT),
    ("[tcp @ 0x1] Connection to tcp://x:443 failed: Connection timed out", TRANSIENT),
])
def test_ffmpeg_errors(stderr, kind):
    assert classify_ffmpeg(stderr).kind == kind
    assert classify_ffmpeg("  Duration: 00:00:16.00, start: 0.000000, bitrate: 131 kb/s") is None


def test_log_last_record_wins_and_a_torn_end_is_cut(tmp_path):
    path = default_log_path(tmp_path / "videos")
    assert path == tmp_path / "videos.download-log.jsonl"
    assert default_log_path(tmp_path / "videos", (2, 8)).name == \
        "videos.download-log.shard-2-of-8.jsonl"
    assert read_download_log(path) == {}
    with DownloadLog(path) as log:
        log.record("a", "pending", "server error (HTTP 500)")
        log.record("b", "unavailable", "private video")
        log.record("a", "downloaded", "cut exact [0.000, 10.000] s")
    with open(path, "ab") as fh:
        fh.write(b'{"id": "c", "status": "downl')  # killed mid-write
    state = read_download_log(path)
    assert {k: v["status"] for k, v in state.items()} == {"a": "downloaded", "b": "unavailable"}
    assert set(state["a"]) == {"id", "status", "reason", "time"}
    with DownloadLog(path) as log:  # the torn line goes; new records start their own line
        log.record("c", "downloaded", "")
    assert read_download_log(path)["c"]["status"] == "downloaded"
    assert len(path.read_text().splitlines()) == 4
    path.write_text('{"id": "a", "status": "downloaded"}\nnot json\n{"id": "b", '
                    '"status": "pending"}\n')
    with pytest.raises(FormatError, match="line 2: not a download record"):
        read_download_log(path)


def test_pacer_backoff_doubles_resets_and_stops():
    pacer = Pacer(max_per_hour=1e6, backoff=0.05, max_pauses=4)
    pauses = [pacer.rate_limited()]
    for _ in range(2):
        time.sleep(pauses[-1] + 0.01)
        pauses.append(pacer.rate_limited())
    assert pauses == pytest.approx([0.05, 0.1, 0.2])
    # a rate limit during a pause is the same pause: no doubling, no extra count
    assert 0 < pacer.rate_limited() <= 0.2
    assert pacer.next_backoff == pytest.approx(0.4) and pacer.pauses_without_progress == 3
    pacer.progressed()
    assert pacer.next_backoff == pytest.approx(0.05) and pacer.pauses_without_progress == 0
    time.sleep(0.21)
    for _ in range(4):
        time.sleep(pacer.rate_limited() + 0.01)
    assert pacer.stopped.is_set() and not pacer.wait_turn()
    big = Pacer(max_per_hour=1, backoff=MAX_BACKOFF / 2)
    big.rate_limited()
    assert big.next_backoff == MAX_BACKOFF


def test_pacer_spaces_starts_over_all_workers():
    pacer = Pacer(max_per_hour=3600 / 0.1)  # one start every 0.1 s
    starts = []

    def worker():
        for _ in range(3):
            assert pacer.wait_turn()
            starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(starts) == 9
    assert time.monotonic() - began >= 8 * 0.1  # 9 starts, one per 0.1 s, the first at once
    sleeps = [Pacer(1e6, sleep=2.0, seed=s).worker_pause() for s in range(50)]
    assert all(1.0 <= x <= 3.0 for x in sleeps) and len(set(sleeps)) == 50


def test_yt_dlp_finds_the_packaged_ffmpeg_in_each_worker():
    """``ffmpeg_location`` reaches only post-processors made with a YoutubeDL; the section
    downloader asks ``FFmpegPostProcessor()`` without one, which reads a context variable that is
    empty in every new thread unless the worker sets it (extractor_for does)."""
    from yt_dlp.downloader.external import FFmpegFD
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    seen = {}

    def bare():
        seen["bare"] = FFmpegPostProcessor._ffmpeg_location.get()

    def worker():
        ydl, _messages = extractor_for(ydl_params())
        seen["location"] = FFmpegPostProcessor._ffmpeg_location.get()
        seen["fd"] = FFmpegFD.available()
        seen["pp"] = FFmpegPostProcessor().executable
        seen["ydl_pp"] = FFmpegPostProcessor(ydl).executable

    for target in (bare, worker):
        t = threading.Thread(target=target)
        t.start()
        t.join()
    assert seen["bare"] is None
    assert seen["location"] == seen["pp"] == seen["ydl_pp"] == ffmpeg_exe()
    assert seen["fd"] is True


def _fmt(fid, w, h, vcodec="avc1.4d401e", acodec="none", abr=None, ext="mp4"):
    return {"format_id": fid, "url": f"http://127.0.0.1:1/{fid}", "width": w, "height": h,
            "vcodec": vcodec, "acodec": acodec, "abr": abr, "ext": ext, "protocol": "https",
            "tbr": (w or 0) * (h or 0) / 1000 + (abr or 0)}


@pytest.mark.parametrize("sizes, want", [
    ([(256, 144), (426, 240), (640, 360), (1280, 720)], "426x240"),
    ([(144, 256), (240, 426), (360, 640)], "240x426"),   # a vertical video: short side counts
    ([(256, 144), (192, 108)], "256x144"),               # nothing big enough: the next best
])
def test_default_format_is_the_smallest_video_of_224_plus_the_best_audio(sizes, want):
    import yt_dlp

    formats = [_fmt(f"v{w}x{h}", w, h) for w, h in sizes]
    formats += [_fmt("a48", None, None, "none", "opus", 48, "webm"),
                _fmt("a160", None, None, "none", "opus", 160, "webm"),
                _fmt("a128", None, None, "none", "mp4a.40.2", 128, "m4a")]
    info = {"id": "x", "title": "x", "formats": formats, "extractor": "youtube",
            "extractor_key": "Youtube", "webpage_url": "https://www.youtube.com/watch?v=x"}
    params = dict(ydl_params(), logger=None)
    with yt_dlp.YoutubeDL(params) as ydl:
        chosen = ydl.process_ie_result(info, download=False)
    video, audio = chosen["requested_formats"]
    assert f"{video['width']}x{video['height']}" == want
    assert audio["format_id"] == "a160"


def test_ffmpeg_command_maps_the_chosen_formats():
    """bv*+ba: the video from the first input, the audio from the separate audio format even when
    the video format carries audio too; one combined file: both from input 0."""
    from avprep.download.cut import ffmpeg_command
    from avprep.download.segments import Segment
    from avprep.download.source import Stream

    seg = Segment("x", "x", 3.5, 13.5)
    both = Stream("https://v/1", {"User-Agent": "a"}, vcodec="avc1", acodec="mp4a.40.2")
    audio = Stream("https://a/2", vcodec=None, acodec="opus")
    cmd = ffmpeg_command([both, audio], seg, Path("/tmp/o.mp4"), "exact")
    assert cmd[cmd.index("-i") + 1] == "https://v/1" and cmd.count("-i") == 2
    maps = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-map"]
    assert maps == ["0:v:0", "1:a:0"]
    assert cmd[cmd.index("-c:a") + 1] == "copy" and "libx264" in cmd
    assert cmd.count("-ss") == 2 and cmd[cmd.index("-ss") + 1] == "3.500"
    single = ffmpeg_command([both], seg, Path("/tmp/o.mp4"), "keyframe")
    assert [single[i + 1] for i, a in enumerate(single) if a == "-map"] == ["0:v:0", "0:a:0"]
    assert single[single.index("-c:v") + 1] == "copy"
    vorbis = ffmpeg_command([both, Stream("https://a/3", acodec="vorbis")], seg,
                            Path("/tmp/o.mp4"), "keyframe")
    assert vorbis[vorbis.index("-c:a") + 1] == "aac"  # MP4 holds no Vorbis
