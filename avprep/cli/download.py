"""``avprep download``: the listed clips' segments from YouTube, paced and resumable."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict

from avprep.cli import add_command, add_option


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``download``."""
    from avprep.download.pacing import MAX_BACKOFF

    p = add_command(
        subparsers, "download",
        "download the listed clips' 10-second segments from YouTube (paced, resumable, logged)",
        f"""
        Download the segment of every id of LIST into DIR/<video_id>.mp4. LIST is a JSON data
        list (released or your own), a text file of ids (one a line) or a segments CSV
        (AudioSet's, or VGGSound's vggsound.csv). A VGGSound id carries its start
        (<ytid>_<6 digits>, 10 s from there); a bare AudioSet id takes its segment from the
        AudioSet segment CSVs given with --segments ('avprep fetch audioset-segments' gets
        them). An id whose start is not known stops the run before it begins (exit 2).

        Only the segment's bytes are fetched (HTTP Range). --cut exact (default) makes the clip
        cover [start, end] to a frame: it re-encodes the video up to the first keyframe and
        copies the rest (H.264 sources with closed GOPs; others are re-encoded whole); --cut
        keyframe copies the streams (faster; the file may start up to one GOP early, which the
        log says). Nothing but
        finished clips is ever in DIR: clips are cut in a hidden folder beside it and renamed.

        The log (JSON lines, default beside DIR: <DIR>.download-log.jsonl) gets one record per
        settled clip: {{"id", "status", "reason", "time"}}, status downloaded, unavailable
        (private, removed, terminated account, copyright or terms takedown, not in this country,
        HTTP 404/410, segment past the video's end, no video or audio) or pending (timeouts,
        5xx, truncated transfers after --retries retries; rate limits at a stop). A re-run skips
        clips in DIR and ids last logged unavailable (unless --retry-unavailable) and retries
        the rest.

        Pace: at most --max-per-hour downloads an hour over all --workers (YouTube tolerates
        about 300 an hour per address without an account), a random pause of about --sleep s
        between one worker's downloads. A rate limit (HTTP 429, "Sign in to confirm you're not
        a bot") pauses every worker for --backoff s, doubling up to {MAX_BACKOFF / 3600:g} h; after
        repeated pauses without progress the run stops (exit 1) and says when to try again.
        To go further: --shard i/N on N machines or addresses; --cookies FILE (a signed-in
        account's cookies.txt: the account can be banned); --proxy http://HOST:PORT.

        Exit status: 0 every id downloaded or unavailable; 1 some are pending or were not
        attempted (run again); 2 unusable input or arguments.
        """,
        """
        avprep download audioset_eval_cleaned.json --dest videos/eval \\
            --segments segments/eval_segments.csv     # after: avprep fetch audioset-segments
        avprep download vgg_test_cleaned.json --dest videos/vgg_test --shard 0/4 --workers 2
        avprep extract videos/eval --audio-dir out/audio --frame-dir out/frames
        """,
        _download)
    p.add_argument("list", metavar="LIST", help="JSON data list, text file of ids or segments CSV")
    p.add_argument("--dest", metavar="DIR", required=True, help="folder for the clips")
    p.add_argument("--segments", metavar="CSV", nargs="+", action="extend", default=[],
                   help="AudioSet segment CSVs (where each bare YouTube id's segment lies)")
    p.add_argument("--log", metavar="LOG", help="download log (default: beside DIR)")
    add_download_options(p)
    p.add_argument("--shard", metavar="i/N", help="download only shard i of N (0-based)")


def add_download_options(p: argparse.ArgumentParser, workers: str = "--workers") -> None:
    """The options of a download run (pace, format, cut, retries, cookies, proxy, limit) that
    ``download`` and ``prepare --download`` share, the parallel downloads named ``workers``
    (dest ``download_workers``)."""
    from avprep.download.run import (DEFAULT_BACKOFF, DEFAULT_MAX_PER_HOUR, DEFAULT_RETRIES,
                                     DEFAULT_SLEEP, DEFAULT_WORKERS)
    from avprep.download.source import YOUTUBE_TEMPLATE

    add_option(p, workers, dest="download_workers", type=int, default=DEFAULT_WORKERS,
               metavar="N", help="parallel downloads within the hourly cap (default %(default)s)")
    p.add_argument("--url-template", default=YOUTUBE_TEMPLATE, metavar="T",
                   help="URL of a YouTube id, {ytid} replaced (default %(default)s)")
    p.add_argument("--format", dest="fmt", metavar="SPEC",
                   help="yt-dlp format (default: the smallest video with a short side of at "
                        "least 224 pixels plus the best audio)")
    p.add_argument("--cut", choices=("exact", "keyframe"), default="exact",
                   help="exact: re-encode, frame-exact; keyframe: stream copy (default exact)")
    p.add_argument("--sleep", type=float, default=DEFAULT_SLEEP, metavar="S",
                   help="mean random pause between one worker's downloads (default %(default)s)")
    p.add_argument("--max-per-hour", type=float, default=DEFAULT_MAX_PER_HOUR, metavar="N",
                   help="downloads started per hour, all workers together (default %(default)s)")
    p.add_argument("--backoff", type=float, default=DEFAULT_BACKOFF, metavar="S",
                   help="first pause after a rate limit, and first wait before retrying a "
                        "transient failure; each doubles (default %(default)s)")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES, metavar="N",
                   help="retries of a transient failure before it is logged pending "
                        "(default %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for the server (default %(default)s)")
    p.add_argument("--cookies", metavar="FILE",
                   help="Netscape cookies.txt of a signed-in account (it risks a ban)")
    p.add_argument("--proxy", metavar="URL", help="HTTP(S) proxy for every request (http://HOST:PORT)")
    p.add_argument("--limit", type=int, metavar="N", help="attempt at most N clips this run")
    p.add_argument("--retry-unavailable", action="store_true",
                   help="retry ids last logged unavailable")


def _download(args: argparse.Namespace) -> int:
    from avprep.download import download
    from avprep.outputs import check_outputs

    check_outputs([("LIST", args.list), *(("--segments", s) for s in args.segments),
                   ("--cookies", args.cookies)], [("--log", args.log)])
    summary = download(args.list, args.dest, segments=args.segments, log=args.log,
                       shard=args.shard, **download_kwargs(args))
    for line in summary.notes():
        print(f"avprep download: {line}", file=sys.stderr)
    print(f"avprep download: {summary.line()}")
    return summary.exit_code


def download_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """The keyword arguments of :func:`avprep.download.download` that
    :func:`add_download_options` parsed."""
    return dict(workers=args.download_workers, url_template=args.url_template, fmt=args.fmt,
                cut=args.cut, sleep=args.sleep, max_per_hour=args.max_per_hour,
                backoff=args.backoff, retries=args.retries, cookies=args.cookies,
                proxy=args.proxy, limit=args.limit, retry_unavailable=args.retry_unavailable,
                timeout=args.timeout)
