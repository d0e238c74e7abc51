#!/usr/bin/env python
"""Benchmark: getting 10-second clips out of long videos over HTTP, as ``avprep download`` does
(``--cut exact`` and ``--cut keyframe``: ffmpeg seeks with Range requests and reads only the
segment), against the usual approach (download the whole video with yt-dlp, then cut it with
ffmpeg, re-encoding with ``--cut exact``'s x264 settings). ``--cut exact`` re-encodes only from
the start to the next keyframe and copies the rest; a fourth row measures the other way to an
exact cut, re-encoding the whole segment in one ffmpeg pass.

The videos are served by the tests' media server (tests/helpers/media_server.py) from its own process on
127.0.0.1, so its CPU is not counted. CPU per clip is this process plus its ffmpeg children;
bytes per clip are what the server sent. One clip per method is fetched first (yt-dlp's first
call imports and compiles for seconds) and not counted. Pacing is off (--sleep 0).

    python scripts/bench_download.py --videos 8 --seconds 120
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def _serve(files: Dict[str, bytes], port_out, sent) -> None:
    from helpers.media_server import MediaServer

    with MediaServer() as srv:
        srv.files.update(files)
        port_out.put(srv.template)
        while True:
            time.sleep(0.05)
            sent.value = srv.bytes_sent


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _make_video(path: Path, seconds: float, gop: float, size) -> bytes:
    from avprep.synth import make_clip

    make_clip(path, duration=seconds, width=size[0], height=size[1], fps=25, pattern="testsrc2",
              extra_args=["-g", str(int(gop * 25)), "-keyint_min", str(int(gop * 25)),
                          "-sc_threshold", "0", "-crf", "28", "-movflags", "+faststart"])
    return path.read_bytes()


def _avprep(ids_file: Path, dest: Path, template: str, cut: str) -> None:
    from avprep.download import download

    summary = download(ids_file, dest, url_template=template, cut=cut, sleep=0,
                       max_per_hour=1e9, workers=1, show_progress=False)
    assert summary.downloaded + summary.present == summary.total, summary.line()


def _whole_then_cut(ids: List[str], dest: Path, template: str) -> None:
    """The usual way: the whole video with yt-dlp, then ffmpeg cuts (same x264 settings)."""
    import yt_dlp

    from avprep.download.cut import EXACT_VIDEO
    from avprep.download.segments import vggsound_segment
    from avprep.synth import ffmpeg_exe

    dest.mkdir(parents=True, exist_ok=True)
    whole = dest.parent / (dest.name + "-whole")
    whole.mkdir(exist_ok=True)
    params = {"quiet": True, "no_warnings": True, "noprogress": True,
              "outtmpl": str(whole / "%(id)s.%(ext)s"), "allowed_extractors": ["generic"]}
    with yt_dlp.YoutubeDL(params) as ydl:
        for video_id in ids:
            seg = vggsound_segment(video_id)
            info = ydl.extract_info(template.format(ytid=seg.ytid), download=True)
            src = ydl.prepare_filename(info)
            subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                            "-ss", f"{seg.start}", "-t", f"{seg.duration}", "-i", src,
                            *EXACT_VIDEO, "-c:a", "copy", str(dest / f"{video_id}.mp4")],
                           check=True, stdin=subprocess.DEVNULL)
            os.unlink(src)


def _whole_segment(ids: List[str], dest: Path, template: str) -> None:
    """The other exact cut: one ffmpeg pass that re-encodes the whole segment's video (what
    ``--cut exact`` falls back to for sources the head-only cut does not take)."""
    from avprep.download.cut import ffmpeg_command
    from avprep.download.segments import vggsound_segment
    from avprep.download.source import Stream

    dest.mkdir(parents=True, exist_ok=True)
    for video_id in ids:
        seg = vggsound_segment(video_id)
        stream = Stream(template.format(ytid=seg.ytid), vcodec="?", acodec="?")
        subprocess.run(ffmpeg_command([stream], seg, dest / f"{video_id}.mp4", "exact"),
                       check=True, stdin=subprocess.DEVNULL, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8, help="clips per method (default 8)")
    ap.add_argument("--seconds", type=float, default=120.0, help="video length (default 120)")
    ap.add_argument("--gop", type=float, default=5.0, help="keyframe interval s (default 5)")
    ap.add_argument("--size", default="426x240",
                    help="video size (default 426x240: YouTube's 240p, what the default "
                         "--format picks)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        size = tuple(int(v) for v in args.size.split("x"))
        body = _make_video(tmp / "src.mp4", args.seconds, args.gop, size)
        made = time.perf_counter() - started
        ytids = [f"Bench{i:06d}" for i in range(args.videos + 1)]
        files = {y: body for y in ytids}
        port_out, sent = mp.Queue(), mp.Value("q", 0)
        server = mp.Process(target=_serve, args=(files, port_out, sent), daemon=True)
        server.start()
        template = port_out.get(timeout=60)
        # segments spread over the video
        span = max(1, int(args.seconds - 12))
        ids = [f"{y}_{(7 + 13 * i) % span + 1:06d}" for i, y in enumerate(ytids)]
        warm, timed = ids[:1], ids[1:]
        results = {}
        methods = {
            "whole video, then cut": lambda d, i, f: _whole_then_cut(i, d, template),
            "avprep --cut exact": lambda d, i, f: _avprep(f, d, template, "exact"),
            "avprep --cut keyframe": lambda d, i, f: _avprep(f, d, template, "keyframe"),
            "re-encode whole segment": lambda d, i, f: _whole_segment(i, d, template),
        }
        for name, run in methods.items():
            dest = tmp / name.replace(" ", "_").replace(",", "")
            warm_file = tmp / "warm.txt"
            warm_file.write_text("\n".join(warm) + "\n")
            run(dest / "warm", warm, warm_file)
            ids_file = tmp / "ids.txt"
            ids_file.write_text("\n".join(timed) + "\n")
            time.sleep(0.2)
            sent0, cpu0, t0 = sent.value, _cpu(), time.perf_counter()
            run(dest / "timed", timed, ids_file)
            wall = time.perf_counter() - t0
            time.sleep(0.2)
            results[name] = (wall, _cpu() - cpu0, sent.value - sent0)
            shutil.rmtree(dest)
        server.terminate()

    n = len(timed)
    print(f"{n} clips of 10 s from {args.seconds:g} s videos ({args.size}, 25 fps, keyframe every "
          f"{args.gop:g} s, {len(body) / 1e6:.1f} MB; made in {made:.1f} s), one worker, "
          "no pacing")
    base_wall, base_cpu, base_bytes = results["whole video, then cut"]
    print(f"{'method':24s} {'clips/s':>8s} {'CPU s/clip':>11s} {'MB/clip':>8s}   "
          "x baseline (clips/s, CPU, bytes)")
    for name, (wall, cpu, nbytes) in results.items():
        print(f"{name:24s} {n / wall:8.2f} {cpu / n:11.3f} {nbytes / n / 1e6:8.2f}   "
              f"{base_wall / wall:5.2f}x {base_cpu / cpu:5.2f}x {base_bytes / max(nbytes, 1):6.1f}x")
    exact, key = results["avprep --cut exact"][1] / n, results["avprep --cut keyframe"][1] / n
    whole = results["re-encode whole segment"][1] / n
    print(f"exact cut re-encoding up to the first keyframe and copying the rest (avprep): "
          f"{exact:.3f} CPU s/clip; re-encoding the whole segment: {whole:.3f} "
          f"({whole / exact:.1f}x); a stream copy: {key:.3f}")


if __name__ == "__main__":
    main()
