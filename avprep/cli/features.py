"""``avprep stats``: a dataset's fbank normalization statistics."""

from __future__ import annotations

import argparse
import json

from avprep.cli import add_command, add_option, print_failures


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``stats``."""
    p = add_command(
        subparsers, "stats",
        "fbank mean and std of a dataset, as the original normalization statistics",
        """
        Compute the mean and std used to normalize the fbank input ((x - mean) / std), defined as
        the original recipe computes them: every clip's un-normalized fbank zero-padded or cut to
        --target-length frames; clips in list order grouped into batches of --batch-size; the
        mean and the sample std of all elements of each batch; mean = average of the batch means,
        std = average of the batch stds. The plain mean and std over all elements are given too
        (pooled_mean, pooled_std). SOURCE is a JSON data list or a pack folder (a pack made with
        --fbank uses its stored fbanks). Released values: mean -5.081, std 4.4849.

        Clips whose wav cannot be read are left out and listed. Exit status: 0 every clip was
        used; 1 some were left out; 2 unusable input.
        """,
        """
        avprep stats out/lists/audioset_20k.json --workers 4 --json out/as20k_stats.json
        """,
        _stats)
    p.add_argument("source", metavar="SOURCE", help="JSON data list or pack folder")
    p.add_argument("--json", metavar="OUT", help="also write the statistics as JSON")
    add_option(p, "--workers", type=int, default=1, metavar="N",
                   help="processes computing fbanks (default 1)")
    add_option(p, "--batch-size", type=int, default=1000, metavar="N",
                   help="clips per batch in the batch average (default 1000)")
    add_option(p, "--target-length", type=int, default=1024, metavar="T",
                   help="frames each fbank is padded or cut to (default 1024)")


def _stats(args: argparse.Namespace) -> int:
    from avprep.atomic import write_text
    from avprep.errors import InputError
    from avprep.data.stats import dataset_stats

    from avprep.outputs import check_outputs, folder_files

    if args.batch_size < 1 or args.target_length < 1:
        raise InputError("--batch-size and --target-length must be at least 1")
    check_outputs(folder_files("SOURCE", args.source), [("--json", args.json)])
    stats = dataset_stats(args.source, target_length=args.target_length,
                          batch_size=args.batch_size, workers=args.workers)
    print(f"mean {stats.mean:.4f} std {stats.std:.4f} ({stats.clips} clips, {stats.batches} "
          f"batches of up to {stats.batch_size}; pooled mean {stats.pooled_mean:.4f} "
          f"std {stats.pooled_std:.4f})")
    if args.json:
        write_text(args.json, json.dumps(stats.to_json(), indent=1) + "\n")
    if stats.failures:
        print_failures(f"{len(stats.failures)} clips left out:", stats.failures,
                       lambda f: f"entry {f['entry']} ({f['video_id']}): {f['reason']}")
        return 1
    return 0
