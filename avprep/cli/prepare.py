"""``avprep prepare``: a dataset's preparation in one command, and its list and report steps
``avprep build-list`` and ``avprep prepare-report``.

``avprep prepare`` (and ``make prepare-audioset`` / ``make prepare-vggsound``, which call it) runs
:func:`avprep.prepare.prepare_dataset`: fetch, extract, build-list per split, prepare-report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from avprep.cli import (add_command, add_engine_options, add_option, check_engine_options,
                        default_workers)
from avprep.errors import InputError
from avprep.manifests import DATASETS
from avprep.outputs import check_outputs, folder_files


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``prepare``, ``build-list`` and ``prepare-report``."""
    p = add_command(
        subparsers, "prepare",
        "prepare AudioSet or VGGSound in one command: media, local lists, weights, report",
        """
        Turn downloaded videos and the released lists into what the released CAV-MAE checkpoints
        expect: OUT/audio and OUT/frames (avprep extract), one local list per released split in
        OUT/lists (avprep build-list: the released entries whose media exist, in the released
        order, with local paths), weights for the training split (recomputed on the local list
        with the released formula, or with --keep-released-weights the released rows), and
        OUT/report: per-list coverage, missing ids, the extraction failures
        (extract_log.jsonl) and summary.txt / summary.json (avprep prepare-report).

        With --pack the clips go into one pack, OUT/pack (avprep extract --pack: a few thousand
        shard files instead of eleven files per clip; --fbank also stores each clip's fbank),
        and the lists point into it (avprep build-list --pack); the Dataset reads them as it
        reads lists of loose files, the same numbers. A pack is made from one set of videos:
        download first, then prepare (videos added later need a new OUT).

        The splits, the label CSV, the training split and its weight file come from the
        dataset's manifest; the splits whose released list is in --lists are prepared. Without
        --lists the released files are fetched (as avprep fetch <dataset>-lists) into
        released/<dataset>-lists of avprep's cache folder ($AVPREP_CACHE, else
        $XDG_CACHE_HOME/avprep, else ~/.cache/avprep). Running it again after adding videos
        extracts only the new ones and rebuilds the lists.

        With --download the clips come first: the ids of the --splits chosen (default: every
        split present) are downloaded as avprep download does (paced, resumable, logged) into
        --videos (default OUT/videos), the log beside it (OUT/videos.download-log.jsonl);
        AudioSet's segment CSVs are --segments or fetched into the cache (as avprep fetch
        audioset-segments). The download options are those of avprep download, its --workers
        being --download-workers. Then every released id missing from a local list is
        accounted for in OUT/report: unavailable on YouTube, pending (a re-run may fetch it),
        never attempted (a split not chosen, --limit), failed extraction, downloaded but not
        extracted: per list and per class (<split>_build.json, <split>_coverage.csv,
        <split>_missing.csv with each id's cause, summary.json, summary.txt). Without
        --download, --download-log LOG (logs of your own avprep download runs; several, or a
        glob for shard logs) does the same accounting. Running the same command again resumes
        the download and extracts only the new clips.

        Exit status: 0 the run finished, also when some clips failed (they are in OUT/report);
        1 the run finished but the download left clips a re-run could fetch (pending, not
        attempted: run it again later); 2 unusable input (no released list, no label CSV, a
        weight file that does not match its list, a videos folder without videos, a fetch that
        failed, an id whose segment is not known): nothing is extracted then.
        """,
        """
        avprep prepare audioset --videos /data/as_downloads --out /data/as_prepared \\
            --lists /data/released --workers 16
        avprep prepare vggsound --videos /data/vgg_downloads --out /data/vgg_prepared
        avprep prepare audioset --videos /data/as_downloads --out /data/as_packed --pack --fbank
        avprep prepare audioset --out /data/as_eval --download --splits audioset_eval_cleaned
        """,
        _prepare)
    p.add_argument("dataset", choices=DATASETS, help="the dataset the videos belong to")
    p.add_argument("--videos", metavar="DIR",
                   help="folder of downloaded videos (searched recursively), or a text file "
                        "with one path per line (needed without --download; with it the "
                        "folder to download into, default OUT/videos)")
    add_option(p, "--out", required=True, metavar="DIR",
               help="output folder: audio/, frames/, lists/, report/")
    p.add_argument("--lists", metavar="DIR",
                   help="folder of the released lists, label CSV and weights (default: fetch "
                        "them into the cache)")
    p.add_argument("--cache", metavar="DIR",
                   help="without --lists, fetch into DIR/<dataset>-lists (default: the "
                        "released/ part of avprep's cache folder)")
    add_option(p, "--workers", type=int, default=default_workers(), metavar="N",
               help="extraction processes (default: the CPUs available, %(default)s here; "
                    "0 runs in this process)")
    p.add_argument("--keep-released-weights", action="store_true",
                   help="give the training split the released weights of its kept entries "
                        "instead of recomputing them")
    p.add_argument("--pack", action="store_true",
                   help="write the clips into the pack OUT/pack (avprep extract --pack) instead "
                        "of OUT/audio and OUT/frames; the lists point into it")
    p.add_argument("--fbank", nargs="?", const="float32", choices=("float32", "float16"),
                   help="with --pack: also store each clip's fbank (bare --fbank: float32)")
    add_engine_options(p)
    group = p.add_argument_group("download (with --download)")
    group.add_argument("--download", action="store_true",
                       help="download the clips of --splits first (avprep download)")
    group.add_argument("--splits", nargs="+", action="extend", metavar="NAME",
                       help="the released lists to download clips for, such as "
                            "audioset_eval_cleaned (default: every split present)")
    group.add_argument("--segments", metavar="CSV", nargs="+", action="extend", default=[],
                       help="AudioSet segment CSVs (default: fetched into the cache)")
    from avprep.cli.download import add_download_options
    add_download_options(group, workers="--download-workers")
    add_option(p, "--download-log", dest="download_logs", metavar="LOG", nargs="+",
               action="extend", default=[],
               help="avprep download logs (several, or a glob for shard logs) to account for "
                    "the missing ids with (with --download its own log is read too)")

    p = add_command(
        subparsers, "build-list",
        "keep the released entries whose media exist locally, with local paths and weights",
        """
        Keep exactly the entries of a released list whose wav and ten frames are complete under
        --audio-dir and --frame-dir (a 16 kHz mono wav with samples, ten whole JPEGs; an empty
        or cut-short file, a dangling link or a folder in its place does not count), in the
        released order, with `wav` and `video_path` rewritten to the local media as absolute
        paths. With --weights-out, write weights for the kept list:
        recomputed on it with the released formula (the default: weights made for the authors'
        full copy unbalance a copy that lacks some clips), or with --keep-released-weights the
        released rows of the kept entries. A weight file given with --weights must have exactly one
        row per released entry, and with --keep-released-weights none may be NaN, infinite or
        negative. With --report DIR, write into DIR the per-class coverage
        (<name>_coverage.csv and .png: each class's kept fraction, worst first), the missing ids
        (<name>_missing_ids.txt, one per line: a backslash written as \\\\, line breaks and
        control characters as \\n, \\r, \\t, \\xNN, \\uNNNN) and a summary
        (<name>_build.json), <name> being the output's file name without extension.

        When missing ids have wavs under download names in A (Y<ytid>_<start>_<end>.wav,
        <ytid>_<start>.wav: extracted without --ids), one warning line on stderr says so and
        which --ids maps them, and the summary's "download_named" counts them.

        With --download-log (the logs of avprep download; several, or a glob for shard logs),
        say why each released id is missing: unavailable on YouTube, pending (a re-run may
        fetch it), never attempted, failed extraction (with --extract-log, the extraction
        failure log), downloaded but not extracted: counts on stdout, in <name>_build.json
        ("accounting") and per class as columns of <name>_coverage.csv, and each id's cause in
        <name>_missing.csv (video_id, cause, reason).

        With --pack DIR (a pack from avprep extract --pack or avprep pack) in place of
        --audio-dir and --frame-dir, the entries kept are those the pack holds with every frame
        (read from its index and manifest, no media opened), and they point into the pack:
        `video_path` is pack://<DIR> and `wav` pack://<DIR>#<video_id>, DIR absolute. The
        Dataset (and avprep train) reads such a list from the pack.

        The label CSV (for recomputed weights and the coverage report) defaults to the single
        class_labels_indices*.csv beside the released list.

        Exit status: 0 the list was written (missing clips are expected and only reported);
        1 the list was written but the released list holds ids that cannot name a file (never
        kept, listed in the summary) or none of its entries has local media (check --audio-dir
        and --frame-dir); 2 unusable input (a missing or malformed file, a weight file whose
        length differs from the released list, an output that is one of the inputs): then
        nothing is written.
        """,
        """
        avprep build-list --released lists/audioset_2m_cleaned.json \\
            --audio-dir out/audio --frame-dir out/frames -o out/lists/audioset_2m_cleaned.json \\
            --weights lists/audioset_2m_cleaned_weight.csv \\
            --weights-out out/lists/audioset_2m_cleaned_weight.csv --report out/report
        avprep build-list --released lists/audioset_2m_cleaned.json --pack out/pack \\
            -o out/lists/audioset_2m_cleaned.json
        """,
        _build_list)
    p.add_argument("--released", required=True, metavar="RELEASED.json",
                   help="the released JSON list")
    p.add_argument("--audio-dir", metavar="A", help="folder of <id>.wav")
    p.add_argument("--frame-dir", metavar="F", help="folder of frame_<i>/<id>.jpg")
    p.add_argument("--pack", metavar="DIR",
                   help="a pack folder holding the clips (in place of --audio-dir and "
                        "--frame-dir)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.json",
                   help="the local list to write")
    add_option(p, "--labels", metavar="CSV",
                   help="label CSV (default: the class_labels_indices*.csv beside RELEASED)")
    add_option(p, "--weights", metavar="RELEASED_WEIGHT.csv",
                   help="the released weight file of RELEASED (checked row for row)")
    p.add_argument("--weights-out", metavar="OUT_WEIGHT.csv",
                   help="write weights for the local list here")
    p.add_argument("--keep-released-weights", action="store_true",
                   help="take the released rows of the kept entries instead of recomputing")
    p.add_argument("--report", metavar="DIR", help="write the coverage report into DIR")
    add_accounting_options(p)

    p = add_command(
        subparsers, "prepare-report",
        "summarize a preparation run: extraction failures, lists, coverage, where outputs are",
        """
        Read what the preparation steps left in REPORT_DIR (the <name>_build.json summaries that
        build-list --report writes) and the extraction log (JSON lines: id, path, stage, reason),
        write REPORT_DIR/summary.json and REPORT_DIR/summary.txt, and print the summary.
        With --download-log, every list's missing ids are accounted for: unavailable, pending,
        never attempted, failed extraction (in --log), downloaded but not extracted; per list
        and per class in summary.json ("accounting"), the counts and the classes most missing
        in summary.txt.
        Exit status: 0 the summary was written (failed clips are reported, not an error);
        2 unusable input (REPORT_DIR missing, an unreadable log).
        """,
        """
        avprep prepare-report out/report --log out/report/extract_log.jsonl \\
            --lists out/lists --audio-dir out/audio --frame-dir out/frames
        """,
        _prepare_report)
    p.add_argument("report_dir", metavar="REPORT_DIR", help="folder with build-list reports")
    p.add_argument("--log", metavar="LOG", help="the JSON-lines log of avprep extract")
    p.add_argument("--lists", metavar="DIR", help="folder of the lists written")
    p.add_argument("--audio-dir", metavar="A", help="folder of the extracted audio")
    p.add_argument("--frame-dir", metavar="F", help="folder of the extracted frames")
    p.add_argument("--title", default="avprep preparation", help="first line of the summary")
    add_option(p, "--download-log", dest="download_logs", metavar="LOG", nargs="+",
               action="extend", default=[],
               help="avprep download logs (several, or a glob for shard logs): say per list and "
                    "per class why each missing id is missing (the extraction failures from "
                    "--log)")


def add_accounting_options(p: argparse.ArgumentParser) -> None:
    """``--download-log`` and ``--extract-log`` (of build-list and coverage)."""
    add_option(p, "--download-log", dest="download_logs", metavar="LOG", nargs="+",
               action="extend", default=[],
               help="avprep download logs (several, or a glob such as "
                    "'videos.download-log*.jsonl' for shard logs): say why each missing id is "
                    "missing")
    add_option(p, "--extract-log", metavar="LOG",
               help="with --download-log: the extraction failure log (avprep extract --log), "
                    "for the ids that failed extraction")


def account_of(args: argparse.Namespace, missing):
    """The :class:`~avprep.lists.accounting.MissingAccount` of ``missing`` from the command's
    ``--download-log`` and ``--extract-log``, or None without ``--download-log``."""
    from avprep.prepare.logs import account_from_logs

    if not args.download_logs:
        if args.extract_log:
            raise InputError("--extract-log needs --download-log LOG")
        return None
    return account_from_logs(missing, args.download_logs, args.extract_log)


def accounting_inputs(args: argparse.Namespace) -> list:
    """``(option, path)`` of the logs ``--download-log`` and ``--extract-log`` name (globs
    expanded), for :func:`avprep.outputs.check_outputs`."""
    from avprep.lists.accounting import expand_log_paths

    logs = [("--download-log", path) for path in expand_log_paths(args.download_logs)]
    return logs + [("--extract-log", getattr(args, "extract_log", None))]


def find_label_csv(released: Path) -> Optional[Path]:
    """The single ``class_labels_indices*.csv`` beside ``released``, or None."""
    found = sorted(released.parent.glob("class_labels_indices*.csv"))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InputError(f"several label CSVs beside the released list "
                         f"({', '.join(p.name for p in found)}); pass --labels", released)
    return None


def _prepare(args: argparse.Namespace) -> int:
    from avprep.prepare import prepare_dataset

    if args.workers < 0:
        raise InputError("--workers must be 0 or more")
    check_engine_options(args)

    def say(text: str) -> None:
        print(text, flush=True)

    def note(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.videos is None and not args.download:
        raise InputError("--videos DIR is needed (or --download, to download the clips first)")
    if args.fbank is not None and not args.pack:
        raise InputError("--fbank needs --pack (a pack stores fbanks, loose files do not)")
    if args.splits and not args.download:
        raise InputError("--splits chooses the lists to download clips for: it needs --download")
    options = {}
    if args.download:
        from avprep.cli.download import download_kwargs
        options = download_kwargs(args)
    result = prepare_dataset(args.dataset, args.videos, args.out, lists=args.lists,
                             workers=args.workers,
                             keep_released_weights=args.keep_released_weights, cache=args.cache,
                             engine=args.engine, address=args.address, say=say, note=note,
                             download=args.download, download_splits=args.splits,
                             segments=args.segments, download_options=options,
                             download_logs=args.download_logs, pack=args.pack,
                             fbank=args.fbank)
    return result.exit_code


def _build_list(args: argparse.Namespace) -> int:
    from avprep.lists import read_labels, read_list, read_weights
    from avprep.lists.build import build_list, report_paths, write_build
    from avprep.store.index import PackIndex
    from avprep.prepare.report import format_build, unusable_build_notes

    if (args.pack is None) == (args.audio_dir is None or args.frame_dir is None):
        raise InputError("build-list needs --audio-dir A and --frame-dir F, or --pack DIR")
    released_path = Path(args.released)
    label_guess = Path(args.labels) if args.labels else None
    report = report_paths(args.report, Path(args.output).stem) if args.report else {}
    check_outputs([("--released", args.released), ("--labels", label_guess),
                   ("--weights", args.weights), *accounting_inputs(args),
                   *folder_files("--pack", args.pack)],
                  [("-o", args.output), ("--weights-out", args.weights_out),
                   *(("--report", path) for path in report.values())])
    released = read_list(released_path)
    weights_wanted = args.weights_out is not None
    if args.keep_released_weights and args.weights is None:
        raise InputError("--keep-released-weights needs --weights RELEASED_WEIGHT.csv")
    if args.keep_released_weights and not weights_wanted:
        raise InputError("--keep-released-weights needs --weights-out OUT_WEIGHT.csv")
    need_labels = args.report is not None or (weights_wanted and not args.keep_released_weights)
    label_path = Path(args.labels) if args.labels else find_label_csv(released_path)
    if label_path is not None and label_guess is None:
        check_outputs([("--labels", label_path)],
                      [("-o", args.output), ("--weights-out", args.weights_out),
                       *(("--report", path) for path in report.values())])
    if need_labels and label_path is None:
        raise InputError("no label CSV beside the released list; pass --labels CSV "
                         "(needed for recomputed weights and the coverage report)", released_path)
    labels = read_labels(label_path) if label_path is not None else None
    released_weights = read_weights(args.weights) if args.weights else None

    result = build_list(released, args.audio_dir, args.frame_dir, labels=labels,
                        weights=weights_wanted, released_weights=released_weights,
                        keep_released_weights=args.keep_released_weights,
                        released_weights_path=args.weights, source=released_path,
                        media=PackIndex(args.pack) if args.pack is not None else None)
    account = account_of(args, result.missing_ids)
    sources = {"released": str(released_path.resolve())}
    if label_path is not None:
        sources["labels"] = str(label_path.resolve())
    if args.weights:
        sources["released_weights"] = str(Path(args.weights).resolve())
    write_build(result, args.output, weights_out=args.weights_out, report_dir=args.report,
                released=released, labels=labels, sources=sources, account=account)

    print(format_build(Path(args.output).name, result))
    if account is not None:
        from avprep.lists.accounting import account_summary, format_account
        for line in format_account(account_summary(account, released, labels), indent="  "):
            print(line)
    if result.download_named is not None:
        print(f"avprep build-list: {result.download_named.note(args.audio_dir)}", file=sys.stderr)
    notes = unusable_build_notes(result, args.audio_dir, args.frame_dir, pack=args.pack)
    for text in notes:
        print(f"avprep build-list: {text}", file=sys.stderr)
    return 1 if notes else 0


def _prepare_report(args: argparse.Namespace) -> int:
    from avprep.prepare.report import SUMMARY_JSON, SUMMARY_TXT, summarize, write_summary

    folder = Path(args.report_dir)
    check_outputs([("--log", args.log), *accounting_inputs(args)],
                  [("REPORT_DIR", folder / SUMMARY_JSON), ("REPORT_DIR", folder / SUMMARY_TXT)])
    summary = summarize(args.report_dir, log=args.log, lists_dir=args.lists,
                        audio_dir=args.audio_dir, frame_dir=args.frame_dir,
                        download_logs=args.download_logs)
    text = write_summary(args.report_dir, summary, title=args.title)
    print(text, end="")
    return 0
