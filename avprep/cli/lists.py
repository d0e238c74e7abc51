"""``avprep validate``, ``avprep weights`` and ``avprep coverage``: check and derive list files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avprep.cli import add_command, add_option
from avprep.errors import InputError
from avprep.outputs import check_outputs


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``validate``, ``weights`` and ``coverage``."""
    p = add_command(
        subparsers, "validate",
        "check a data list (ids, labels, weights, released list, media files)",
        """
        Check LIST against its label CSV and report every problem by kind, with a count and
        example ids: duplicate_id, unsafe_id, malformed_id, empty_labels, malformed_labels,
        unknown_label, duplicate_label; with --weights: weights_length, nonfinite_weight,
        negative_weight; with --against: not_in_released, labels_differ; with --check-files:
        missing_wav, missing_frames (<video_path>/frame_<i>/<video_id>.jpg, i = 0..9, or
        below the count <video_path>/frames.json records),
        broken_wav, broken_frames (present but not complete: empty, a dangling link, a folder,
        a .wav that is not 16 kHz mono with samples, a JPEG without its start or end marker).

        A short summary goes to stdout; --json writes the full report as
        {"problems": {"<kind>": {"count": n, "examples": [...]}}, "summary": {...}}.
        With --against and --coverage PREFIX, per-class counts against the released list are
        written to PREFIX.csv and PREFIX.png.

        Exit status: 0 no problems; 1 problems found; 2 unusable input (a missing file, a list
        that is not JSON, a CSV with the wrong columns): then one line on stderr and nothing
        is written.
        """,
        """
        avprep validate audioset_20k_cleaned.json --labels class_labels_indices.csv \\
            --weights audioset_20k_cleaned_weight.csv --json report.json
        avprep validate my_20k.json --labels class_labels_indices.csv \\
            --against audioset_20k_cleaned.json --check-files --coverage my_20k_coverage
        """,
        _validate)
    p.add_argument("list", metavar="LIST", help="JSON data list to check")
    add_option(p, "--labels", required=True, metavar="CSV", help="label CSV of the dataset")
    add_option(p, "--weights", metavar="CSV", help="sample-weight CSV that belongs to LIST")
    p.add_argument("--against", metavar="RELEASED", help="released JSON list to compare with")
    p.add_argument("--check-files", action="store_true",
                   help="check that every entry's wav and 10 frames exist")
    p.add_argument("--root", metavar="DIR",
                   help="folder that relative wav and video_path entries start from "
                        "(default: the current folder)")
    p.add_argument("--json", metavar="REPORT", help="write the full report as JSON here")
    p.add_argument("--coverage", metavar="PREFIX",
                   help="with --against: write PREFIX.csv and PREFIX.png per-class coverage "
                        "(as avprep coverage writes them)")

    p = add_command(
        subparsers, "weights",
        "compute class-balancing sample weights for a list (the released formula)",
        """
        Write one weight per entry of LIST, in list order, in numpy's savetxt default format:
        count[c] is how often class c is written in the list's labels,
        label_weight[c] = 1000 / (count[c] + 0.01), and an entry's weight is the float64 sum of
        label_weight over its labels. This is the formula of the released weight files;
        recompute weights whenever a list is filtered. A label missing from the label CSV is
        unusable input (exit 2).
        """,
        """
        avprep weights my_audioset_2m.json --labels class_labels_indices.csv \\
            -o my_audioset_2m_weight.csv
        """,
        _weights)
    p.add_argument("list", metavar="LIST", help="JSON data list")
    add_option(p, "--labels", required=True, metavar="CSV", help="label CSV of the dataset")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="weight CSV to write")

    p = add_command(
        subparsers, "coverage",
        "per-class counts of a local list against the released one (CSV and PNG)",
        """
        Count, for every class, the entries of the RELEASED list and those of LIST whose ids
        the released list has; write them to PREFIX.csv (index, mid, display_name, released,
        local, fraction: the kept fraction local/released, missing: released - local), the
        worst class first (lowest kept fraction, then most missing), and to PREFIX.png: every
        class's kept fraction, sorted, and the worst classes by name. The summary line names
        the worst classes too. --missing writes the ids of released entries that LIST lacks,
        one per line (a backslash written as \\\\, line breaks and control characters as \\n,
        \\r, \\t, \\xNN, \\uNNNN; plain ids as they are).

        With --download-log (avprep download logs; several, or a glob for shard logs) and
        optionally --extract-log, say why each missing id is missing: PREFIX.csv gains the
        columns unavailable, pending, never_attempted, failed_extraction,
        not_extracted, unsafe_id (per class), PREFIX_missing.csv holds each id's cause
        (video_id, cause, reason), and the counts are printed.
        """,
        """
        avprep coverage my_20k.json --released audioset_20k_cleaned.json \\
            --labels class_labels_indices.csv -o out/as20k_coverage --missing out/missing.txt
        avprep coverage my_eval.json --released audioset_eval_cleaned.json \\
            --labels class_labels_indices.csv -o out/eval_coverage \\
            --download-log 'videos.download-log*.jsonl' --extract-log out/extract_log.jsonl
        """,
        _coverage)
    p.add_argument("list", metavar="LIST", help="local JSON data list")
    p.add_argument("--released", required=True, metavar="RELEASED", help="released JSON list")
    add_option(p, "--labels", required=True, metavar="CSV", help="label CSV of the dataset")
    p.add_argument("-o", "--output", required=True, metavar="PREFIX",
                   help="write PREFIX.csv and PREFIX.png")
    p.add_argument("--missing", metavar="TXT", help="write the released ids LIST lacks here")
    from avprep.cli.prepare import add_accounting_options
    add_accounting_options(p)


def _validate(args: argparse.Namespace) -> int:
    from avprep.atomic import write_text
    from avprep.lists import read_labels, read_list, read_weights
    from avprep.lists.coverage import coverage, write_coverage
    from avprep.lists.validate import validate

    if args.coverage and not args.against:
        raise InputError("--coverage needs --against RELEASED")
    if args.root and not Path(args.root).is_dir():
        raise InputError("not a folder", args.root)
    cov = args.coverage
    check_outputs([("LIST", args.list), ("--labels", args.labels), ("--weights", args.weights),
                   ("--against", args.against)],
                  [("--json", args.json), ("--coverage", cov and f"{cov}.csv"),
                   ("--coverage", cov and f"{cov}.png")])
    # read every input before writing anything: unusable input leaves no file behind
    data = read_list(args.list)
    labels = read_labels(args.labels)
    weights = read_weights(args.weights) if args.weights else None
    released = read_list(args.against) if args.against else None

    report = validate(data, labels, weights=weights, released=released,
                      files=args.check_files, root=Path(args.root) if args.root else None)
    if args.json:
        write_text(args.json, json.dumps(report.to_json(), indent=1) + "\n")
    if args.coverage:
        write_coverage(coverage(data, released, labels), f"{args.coverage}.csv",
                       f"{args.coverage}.png", title=Path(args.list).name)
    print(report.text(Path(args.list).name))
    return 0 if report.ok else 1


def _weights(args: argparse.Namespace) -> int:
    from avprep.lists import compute_weights, read_labels, read_list, write_weights

    check_outputs([("LIST", args.list), ("--labels", args.labels)], [("-o", args.output)])
    data = read_list(args.list)
    labels = read_labels(args.labels)
    try:
        weights = compute_weights(data, labels)
    except InputError as err:
        raise InputError(err.message, args.list, err.entry) from None
    write_weights(args.output, weights)
    if len(weights):
        print(f"wrote {len(weights)} weights to {args.output} "
              f"(min {weights.min():.6g}, max {weights.max():.6g})")
    else:
        print(f"wrote 0 weights to {args.output} (empty list)")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    from avprep.atomic import write_text
    from avprep.lists import read_labels, read_list
    from avprep.lists.coverage import (class_summary, coverage, format_classes, missing_ids,
                                       write_coverage)
    from avprep.safetext import lines_text
    from avprep.cli.prepare import account_of, accounting_inputs
    from avprep.lists.accounting import account_summary, add_cause_columns, format_account

    check_outputs([("LIST", args.list), ("--released", args.released), ("--labels", args.labels),
                   *accounting_inputs(args)],
                  [("-o", f"{args.output}.csv"), ("-o", f"{args.output}.png"),
                   ("--missing", args.missing),
                   ("-o", f"{args.output}_missing.csv" if args.download_logs else None)])
    data = read_list(args.list)
    released = read_list(args.released)
    labels = read_labels(args.labels)

    table = coverage(data, released, labels)
    missing = missing_ids(data, released)
    account = account_of(args, missing)  # the logs are read before anything is written
    if account is not None:
        table = add_cause_columns(table, released, labels, account)
    write_coverage(table, f"{args.output}.csv", f"{args.output}.png",
                   title=Path(args.list).name)
    if args.missing:
        write_text(args.missing, lines_text(missing))
    if account is not None:
        write_text(f"{args.output}_missing.csv", account.csv_text())
    print(f"{Path(args.list).name}: {len(released) - len(missing)} of {len(released)} released "
          f"entries present; {format_classes(class_summary(table))}; "
          f"wrote {args.output}.csv and {args.output}.png"
          + (f" and {args.output}_missing.csv" if account is not None else ""))
    if account is not None:
        for line in format_account(account_summary(account, released, labels), indent="  "):
            print(line)
    return 0
