"""``avprep download`` against a media server on 127.0.0.1 (tests/helpers/media_server.py): where the cut
falls (decoded with PyAV), each failure class, resume, shards, workers, pace, AudioSet ids with a
leading ``-`` and VGGSound ids. Clips are 16 s, a keyframe every 2 s."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import av
import pytest

from avprep.cli import main
from avprep.download import download, read_download_log
from avprep.download.run import partial_dir
from helpers.media_server import FPS, MediaServer, assert_covers, frame_times, make_timed_clip

GOP = 2.0
AS_ID = "-0RWZT-miFs"          # AudioSet ids may start with '-'
OTHER = "--4gqARaEJE"
FAST = dict(sleep=0.0, max_per_hour=1e6, backoff=0.05, retries=1, show_progress=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("source")
    return {"av": make_timed_clip(folder / "av.mp4", duration=16.0, gop_seconds=GOP).read_bytes(),
            "mpeg4": make_timed_clip(folder / "m4.mp4", duration=16.0, gop_seconds=GOP,
                                     vcodec="mpeg4").read_bytes(),
            "video-only": make_timed_clip(folder / "v.mp4", duration=16.0, audio=False)
            .read_bytes()}


@pytest.fixture
def server(clips):
    with MediaServer() as srv:
        srv.clip = clips["av"]
        yield srv


def _segments(path: Path, rows) -> Path:
    path.write_text("# Segments csv created Sun Mar  5 10:54:31 2017\n"
                    "# num_ytids=2, num_segs=2, num_unique_labels=1, num_positive_labels=2\n"
                    "# YTID, start_seconds, end_seconds, positive_labels\n"
                    + "".join(f'{y}, {s:.3f}, {e:.3f}, "/m/09x0r"\n' for y, s, e in rows))
    return path


def _ids(path: Path, ids) -> Path:
    path.write_text("\n".join(ids) + "\n")
    return path


def _only_clips(dest: Path) -> set:
    names = set(os.listdir(dest))
    assert all(n.endswith(".mp4") and not n.startswith(".") for n in names), names
    assert not partial_dir(dest).exists()
    return names


def test_exact_cut_audioset_id_with_leading_dash(server, tmp_path):
    server.files[AS_ID] = server.clip
    segs = _segments(tmp_path / "eval_segments.csv", [(AS_ID, 3.5, 13.5)])
    dest = tmp_path / "videos"
    summary = download(_ids(tmp_path / "ids.txt", [AS_ID]), dest, segments=[segs],
                       url_template=server.template, **FAST)
    assert summary.exit_code == 0 and summary.downloaded == 1
    assert _only_clips(dest) == {f"{AS_ID}.mp4"}
    assert_covers(dest / f"{AS_ID}.mp4", 3.5, 13.5)
    record = read_download_log(tmp_path / "videos.download-log.jsonl")[AS_ID]
    assert record["status"] == "downloaded"
    # H.264 with closed GOPs: only the 0.5 s up to the keyframe at 4 s were re-encoded
    assert record["reason"] == ("cut exact [3.500, 13.500] s (re-encoded up to the keyframe at "
                                "4.000 s, copied after)")
    # the clips are named by the list's ids: extraction needs no --ids
    audio, frames = tmp_path / "audio", tmp_path / "frames"
    assert main(["extract", str(dest), "--audio-dir", str(audio), "--frame-dir",
                 str(frames)]) == 0
    import wave
    with wave.open(str(audio / f"{AS_ID}.wav")) as wav:
        assert wav.getframerate() == 16000
        assert abs(wav.getnframes() / 16000 - 10.0) <= 0.1
    assert (frames / "frame_9" / f"{AS_ID}.jpg").is_file()


def test_exact_cut_of_another_codec_reencodes_the_whole_segment(server, clips, tmp_path):
    """MPEG-4 Part 2: no head-only re-encoding; the whole segment is, and it is as exact."""
    server.files[AS_ID] = clips["mpeg4"]
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 3.5, 13.5)])
    dest = tmp_path / "videos"
    summary = download(_ids(tmp_path / "ids.txt", [AS_ID]), dest, segments=[segs],
                       url_template=server.template, **FAST)
    assert summary.downloaded == 1
    assert_covers(dest / f"{AS_ID}.mp4", 3.5, 13.5)
    record = read_download_log(summary.log)[AS_ID]
    assert record["reason"] == "cut exact [3.500, 13.500] s"
    with av.open(os.fspath(dest / f"{AS_ID}.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_keyframe_cut_stream_copies_from_the_keyframe_before(server, tmp_path):
    server.files[AS_ID] = server.clip
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 3.5, 13.5)])
    dest = tmp_path / "videos"
    summary = download(_ids(tmp_path / "ids.txt", [AS_ID]), dest, segments=[segs],
                       url_template=server.template, cut="keyframe", **FAST)
    assert summary.exit_code == 0
    clip = dest / f"{AS_ID}.mp4"
    with av.open(os.fspath(clip)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    # the copied stream starts at the keyframe at 2 s: 1.5 s (one GOP at most) before 3.5 s
    early = round((3.5 - 2.0) * FPS)
    assert len(packets) >= round(10 * FPS) + early - 1
    assert packets[0].is_keyframe
    frames = frame_times(clip)  # PyAV honours the edit list: presentation starts near 3.5 s
    assert 3.5 - GOP - 0.1 <= frames[0][1] <= 3.5 + 0.1
    assert abs(frames[-1][1] + 1 / FPS - 13.5) <= 0.1
    record = read_download_log(tmp_path / "videos.download-log.jsonl")[AS_ID]
    assert "keyframe" in record["reason"] and "one GOP" in record["reason"]


def test_vggsound_ids_carry_their_start(server, tmp_path):
    ytid = "KlsG1EnBEjc"
    server.files[ytid] = server.clip
    ids = [f"{ytid}_000004", f"{ytid}_000012"]  # the second ends past the 16 s video
    dest = tmp_path / "vgg"
    summary = download(_ids(tmp_path / "ids.txt", ids), dest, url_template=server.template,
                       **FAST)
    assert (summary.downloaded, summary.unavailable, summary.exit_code) == (1, 1, 0)
    assert_covers(dest / f"{ids[0]}.mp4", 4.0, 14.0)
    state = read_download_log(tmp_path / "vgg.download-log.jsonl")
    assert state[ids[1]]["status"] == "unavailable"
    assert "past the video's end" in state[ids[1]]["reason"]
    assert _only_clips(dest) == {f"{ids[0]}.mp4"}


def test_not_found_is_unavailable_and_the_run_exits_0(server, tmp_path, capsys):
    """HTTP 404 is permanent: logged unavailable, never retried, exit 0 (nothing left)."""
    dest = tmp_path / "videos"
    rc = main(["download", str(_ids(tmp_path / "ids.txt", ["NoSuchVideo_000000"])),
               "--dest", str(dest), "--url-template", server.template, "--sleep", "0",
               "--max-per-hour", "100000", "--backoff", "0.05"])
    assert rc == 0
    state = read_download_log(tmp_path / "videos.download-log.jsonl")
    assert state["NoSuchVideo_000000"]["status"] == "unavailable"
    assert state["NoSuchVideo_000000"]["reason"] == "not found (HTTP 404)"
    assert [r for r in server.requests if r[0] == "NoSuchVideo"] == [("NoSuchVideo", None)]
    out = capsys.readouterr()
    assert "0 downloaded, 1 unavailable, 0 pending of 1 ids" in out.out
    assert "1 not found (HTTP 404)" in out.err
    assert os.listdir(dest) == []


def test_no_audio_stream_is_unavailable(server, clips, tmp_path):
    server.files["VideoOnly00"] = clips["video-only"]
    summary = download(_ids(tmp_path / "ids.txt", ["VideoOnly00_000002"]), tmp_path / "v",
                       url_template=server.template, **FAST)
    state = read_download_log(summary.log)
    assert state["VideoOnly00_000002"] == {**state["VideoOnly00_000002"],
                                           "status": "unavailable", "reason": "no audio stream"}


def test_rate_limit_pauses_then_downloads(server, tmp_path):
    """429 for the first two requests, then the file: downloaded, never logged unavailable,
    and the back-off (0.2 s, then 0.4 s) was waited."""
    server.files[AS_ID] = server.clip
    server.rate_limit[AS_ID] = 2
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 1.0, 11.0)])
    started = time.monotonic()
    summary = download(_ids(tmp_path / "ids.txt", [AS_ID]), tmp_path / "videos",
                       segments=[segs], url_template=server.template,
                       **{**FAST, "backoff": 0.2})
    assert time.monotonic() - started >= 0.6
    assert summary.downloaded == 1 and summary.exit_code == 0
    lines = [json.loads(x) for x in (tmp_path / "videos.download-log.jsonl").read_text()
             .splitlines()]
    assert [r["status"] for r in lines] == ["downloaded"]
    assert sum(1 for y, _ in server.requests if y == AS_ID) >= 3


def test_persistent_rate_limit_stops_cleanly(server, tmp_path, capsys):
    server.files[AS_ID] = server.files[OTHER] = server.clip
    server.rate_limit[AS_ID] = server.rate_limit[OTHER] = 10**6
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 1.0, 11.0), (OTHER, 0.0, 10.0)])
    summary = download(_ids(tmp_path / "ids.txt", [AS_ID, OTHER]), tmp_path / "videos",
                       segments=[segs], url_template=server.template, max_pauses=3, workers=1,
                       **FAST)
    assert summary.exit_code == 1 and summary.downloaded == 0 and summary.unavailable == 0
    assert "stopped after 3 pauses" in summary.stopped and "try again after" in summary.stopped
    assert "--cookies" in summary.stopped and "--proxy" in summary.stopped
    state = read_download_log(summary.log)
    assert all(r["status"] == "pending" and "rate-limited" in r["reason"]
               for r in state.values())
    assert summary.pending + summary.not_attempted == 2


def test_server_error_is_retried_then_pending_then_resumed(server, tmp_path):
    server.files[AS_ID] = server.clip
    server.fail[AS_ID] = 500
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 1.0, 11.0)])
    ids = _ids(tmp_path / "ids.txt", [AS_ID])
    dest = tmp_path / "videos"
    summary = download(ids, dest, segments=[segs], url_template=server.template,
                       **{**FAST, "retries": 2})
    assert summary.exit_code == 1 and summary.pending == 1
    assert sum(1 for y, _ in server.requests if y == AS_ID) == 3  # 1 try + 2 retries
    record = read_download_log(summary.log)[AS_ID]
    assert record["status"] == "pending"
    assert record["reason"] == "server error (HTTP 500) (after 3 attempts)"
    assert os.listdir(dest) == []
    del server.fail[AS_ID]
    again = download(ids, dest, segments=[segs], url_template=server.template, **FAST)
    assert again.exit_code == 0 and again.downloaded == 1
    assert read_download_log(summary.log)[AS_ID]["status"] == "downloaded"
    assert_covers(dest / f"{AS_ID}.mp4", 1.0, 11.0)


def test_connection_closed_mid_body_is_transient(server, tmp_path):
    server.files[AS_ID] = server.clip
    server.truncate[AS_ID] = 40_000
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 3.5, 13.5)])
    ids = _ids(tmp_path / "ids.txt", [AS_ID])
    dest = tmp_path / "videos"
    summary = download(ids, dest, segments=[segs], url_template=server.template, **FAST)
    record = read_download_log(summary.log)[AS_ID]
    assert (summary.exit_code, record["status"]) == (1, "pending")
    assert "truncated transfer" in record["reason"]
    assert os.listdir(dest) == [] and not partial_dir(dest).exists()
    del server.truncate[AS_ID]
    assert download(ids, dest, segments=[segs], url_template=server.template,
                    **FAST).exit_code == 0
    assert_covers(dest / f"{AS_ID}.mp4", 3.5, 13.5)


def test_resume_skips_done_and_unavailable(server, tmp_path):
    server.files[AS_ID] = server.clip
    ids = _ids(tmp_path / "ids.txt", [f"{AS_ID}_000001", "Gone0000000_000001"])
    dest = tmp_path / "videos"
    first = download(ids, dest, url_template=server.template, **FAST)
    assert (first.downloaded, first.unavailable) == (1, 1)
    server.requests.clear()
    second = download(ids, dest, url_template=server.template, **FAST)
    assert (second.present, second.skipped_unavailable, second.downloaded) == (1, 1, 0)
    assert second.exit_code == 0 and server.requests == []
    server.files["Gone0000000"] = server.clip  # back online
    third = download(ids, dest, url_template=server.template, retry_unavailable=True, **FAST)
    assert third.downloaded == 1 and third.exit_code == 0
    assert {y for y, _ in server.requests} == {"Gone0000000"}
    assert _only_clips(dest) == {f"{AS_ID}_000001.mp4", "Gone0000000_000001.mp4"}


def test_shards_split_the_ids_and_workers_share_the_cap(server, tmp_path):
    ytids = [f"Clip{i:07d}" for i in range(6)]
    for y in ytids:
        server.files[y] = server.clip
    ids = _ids(tmp_path / "ids.txt", [f"{y}_000002" for y in ytids])
    dest = tmp_path / "videos"
    got = []
    for index in range(2):
        started = time.monotonic()
        summary = download(ids, dest, url_template=server.template, shard=f"{index}/2",
                           workers=3, **{**FAST, "max_per_hour": 3600 / 0.3})
        # at most one start every 0.3 s over all workers: n starts take at least (n-1) x 0.3 s
        assert time.monotonic() - started >= (summary.total - 1) * 0.3
        assert summary.exit_code == 0 and summary.downloaded == summary.total
        assert summary.log == tmp_path / f"videos.download-log.shard-{index}-of-2.jsonl"
        got.append(set(read_download_log(summary.log)))
    assert got[0] | got[1] == {f"{y}_000002" for y in ytids} and not got[0] & got[1]
    assert got[0] and got[1]
    assert _only_clips(dest) == {f"{y}_000002.mp4" for y in ytids}
    for y in ytids[:2]:
        assert_covers(dest / f"{y}_000002.mp4", 2.0, 12.0)


def test_limit_leaves_the_rest_for_the_next_run(server, tmp_path):
    for y in ("LimitA00000", "LimitB00000"):
        server.files[y] = server.clip
    ids = _ids(tmp_path / "ids.txt", ["LimitA00000_000000", "LimitB00000_000000"])
    first = download(ids, tmp_path / "v", url_template=server.template, limit=1, **FAST)
    assert (first.downloaded, first.not_attempted, first.exit_code) == (1, 1, 1)
    second = download(ids, tmp_path / "v", url_template=server.template, **FAST)
    assert (second.present, second.downloaded, second.exit_code) == (1, 1, 0)


def test_unknown_start_is_exit_2_before_any_request(server, tmp_path, capsys):
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 1.0, 11.0)])
    ids = _ids(tmp_path / "ids.txt", [AS_ID, "UnknownId00"])
    rc = main(["download", str(ids), "--dest", str(tmp_path / "v"), "--segments", str(segs),
               "--url-template", server.template])
    assert rc == 2 and server.requests == []
    assert "no known start for id 'UnknownId00'" in capsys.readouterr().err
    ok = _ids(tmp_path / "ok.txt", [AS_ID])
    base = ["download", str(ok), "--dest", str(tmp_path / "v"), "--segments", str(segs)]
    assert main(base + ["--log", str(tmp_path / "v" / "log.jsonl")]) == 2
    assert "must not be inside DIR" in capsys.readouterr().err
    assert main(base + ["--cookies", str(tmp_path / "none.txt")]) == 2
    assert "cookies file not found" in capsys.readouterr().err
    assert main(base + ["--proxy", "socks5://127.0.0.1:1"]) == 2
    assert main(base + ["--url-template", "http://127.0.0.1:1/x.mp4"]) == 2
    assert main(base + ["--shard", "2/2"]) == 2
    assert server.requests == []


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["download", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example:\n  avprep download" in out and "--retry-unavailable" in out


def test_one_id_rate_limited_again_and_again_goes_pending(server, tmp_path):
    """While other clips download the run goes on; the id that keeps getting 429 is left
    pending for the next run after max_pauses tries, never unavailable."""
    server.files[AS_ID] = server.files[OTHER] = server.clip
    server.rate_limit[AS_ID] = 10**6
    segs = _segments(tmp_path / "s.csv", [(AS_ID, 1.0, 11.0), (OTHER, 0.0, 10.0)])
    summary = download(_ids(tmp_path / "ids.txt", [AS_ID, OTHER]), tmp_path / "videos",
                       segments=[segs], url_template=server.template, max_pauses=3, workers=1,
                       **FAST)
    assert summary.downloaded == 1 and summary.pending == 1 and summary.exit_code == 1
    state = read_download_log(summary.log)
    assert state[AS_ID]["status"] == "pending" and "429" in state[AS_ID]["reason"]
    assert sum(1 for y, _ in server.requests if y == AS_ID) == 3


def test_json_list_through_the_command_line(server, tmp_path, capsys):
    """A released-format JSON list mixing an AudioSet id (segment from --segments) and a
    VGGSound id, with a yt-dlp --format of one's own."""
    server.files[AS_ID] = server.files["KlsG1EnBEjc"] = server.clip
    ids = [AS_ID, "KlsG1EnBEjc_000003"]
    listed = tmp_path / "audioset_eval_cleaned.json"
    listed.write_text(json.dumps({"data": [
        {"video_id": v, "wav": f"/x/{v}.wav", "video_path": "/x", "labels": "/m/09x0r"}
        for v in ids]}))
    segs = _segments(tmp_path / "eval_segments.csv", [(AS_ID, 2.5, 12.5)])
    dest = tmp_path / "videos"
    rc = main(["download", str(listed), "--dest", str(dest), "--segments", str(segs),
               "--url-template", server.template, "--format", "b", "--workers", "2",
               "--sleep", "0", "--max-per-hour", "100000", "--log", str(tmp_path / "dl.jsonl")])
    assert rc == 0
    assert "2 downloaded, 0 unavailable, 0 pending of 2 ids" in capsys.readouterr().out
    assert _only_clips(dest) == {f"{v}.mp4" for v in ids}
    assert_covers(dest / f"{AS_ID}.mp4", 2.5, 12.5)
    assert_covers(dest / "KlsG1EnBEjc_000003.mp4", 3.0, 13.0)
    assert set(read_download_log(tmp_path / "dl.jsonl")) == set(ids)
