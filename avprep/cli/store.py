"""``avprep pack``: pack a data list's clips into Arrow shards; ``avprep pack --verify DIR``;
``avprep unpack``: a pack back into the loose layout."""

from __future__ import annotations

import argparse
import sys

from avprep.cli import (FAILURE_LINE, add_command, add_engine_options, add_option,
                        check_engine_options,
                        print_failures)
from avprep.errors import InputError, WriteError
from avprep.safetext import shown


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``pack`` and ``unpack``."""
    p = add_command(
        subparsers, "pack",
        "pack a list's wavs and frames (and optionally fbanks) into Arrow shards; verify a pack",
        """
        Write the clips of LIST into Arrow IPC shards in DIR: per clip the video id, the labels,
        the 16 kHz wav samples (int16, exact), the ten frame JPEG files' bytes unchanged and, with
        --fbank, the fbank as avprep.features.wav_fbank computes it (un-padded, un-normalized).
        float16 halves its size at a relative error up to 2^-11 (4.9e-4): on the fixture clips
        at most 8.7e-4 in normalized units, but a mean difference of 1.2e-4 to 2.9e-4, over the
        1e-4 that the parity rule (avprep.features.parity) allows; use float32 (the default)
        for parity.

        Row i of the pack is the i-th entry of LIST that could be packed; entries whose wav or
        frames are missing or unreadable are left out and recorded with their reason in
        DIR/manifest.json. DIR also holds index.arrow (row and id lookup) and the manifest with
        each shard's size and sha256. Read a pack with avprep.store.open_store(DIR) or give DIR to
        the Dataset in place of a list.

        A killed run continues where it stopped when run again with the same arguments: finished
        shards are kept as they are. --workers packs that many shards at once: in worker
        processes here (--engine local, the default) or as Ray tasks (--engine ray) on a Ray
        cluster started for the run on this machine or, with --address, on an existing one
        whose nodes share DIR's file system. Both engines write the same bytes; under Ray a
        worker that dies mid-shard costs a retry of that shard, not the run.

        With --verify DIR (and no LIST): rehash every shard against the manifest and check the
        index; each missing or damaged shard is named.

        Exit status: 0 all entries packed (or the pack verified); 1 some entries were left out
        (or the pack is damaged); 2 unusable input (no list, a folder holding another pack).
        """,
        """
        avprep pack out/lists/audioset_20k.json --labels class_labels_indices.csv \\
            -o out/pack/as20k --shard-size 1000 --workers 4 --fbank
        avprep pack out/lists/audioset_20k.json -o out/pack/as20k --workers 64 \\
            --engine ray --address 10.0.0.1:6379
        avprep pack --verify out/pack/as20k
        """,
        _pack)
    p.add_argument("list", nargs="?", metavar="LIST", help="JSON data list to pack")
    p.add_argument("-o", "--output", metavar="DIR", help="pack folder to write (or continue)")
    add_option(p, "--labels", metavar="CSV",
                   help="label CSV: check every label and store class indices")
    p.add_argument("--shard-size", type=int, default=1000, metavar="N",
                   help="list entries per shard (default 1000)")
    add_option(p, "--workers", type=int, default=1, metavar="N",
                   help="shards packed in parallel (default 1; with --engine ray: Ray tasks at "
                        "once)")
    p.add_argument("--fbank", nargs="?", const="float32", choices=("float32", "float16"),
                   help="also store each clip's fbank (bare --fbank: float32)")
    add_engine_options(p)
    p.add_argument("--verify", metavar="DIR", help="verify the pack in DIR instead of packing")

    p = add_command(
        subparsers, "unpack",
        "write a pack's clips back as A/<id>.wav and F/frame_<i>/<id>.jpg",
        """
        Write every clip of the pack in DIR in the loose layout, for tools that read files:
        A/<id>.wav (a plain 16-bit PCM wav of the stored samples, as avprep extract writes it)
        and F/frame_<i>/<id>.jpg (the stored JPEG bytes). A pack made with avprep extract
        --pack unpacks to exactly the files avprep extract would have written, byte for byte.
        Each file is written under a temporary name and renamed; outputs already complete are
        kept as they are, so a killed run continues where it stopped. A frame the pack lacks
        is not written.

        Exit status: 0 done; 2 unusable input (not a finished pack) or an output that cannot
        be written.
        """,
        """
        avprep unpack out/pack/as20k --audio-dir out/audio --frame-dir out/frames
        """,
        _unpack)
    p.add_argument("pack", metavar="DIR", help="pack folder to unpack")
    p.add_argument("--audio-dir", metavar="A", help="folder for <id>.wav")
    p.add_argument("--frame-dir", metavar="F", help="folder for frame_<i>/<id>.jpg")


def _pack(args: argparse.Namespace) -> int:
    if args.verify:
        if args.list or args.output:
            raise InputError("--verify DIR takes no LIST and no -o")
        if args.engine != "local" or args.address is not None:
            raise InputError("--verify DIR takes no --engine and no --address")
        return _verify(args.verify)
    if not args.list or not args.output:
        raise InputError("pack needs LIST and -o DIR (or --verify DIR)")
    check_engine_options(args)
    from avprep.outputs import check_outputs
    from avprep.store import pack

    check_outputs([("LIST", args.list), ("--labels", args.labels)], [], owned=[("-o", args.output)])

    try:
        result = pack(args.list, args.output, labels=args.labels, shard_size=args.shard_size,
                      workers=args.workers, fbank=args.fbank, engine=args.engine,
                      address=args.address)
    except OSError as err:  # a full disk or a size limit: finished shards stay, a re-run resumes
        raise WriteError(f"pack stopped: {err.strerror or err}",
                         err.filename or args.output) from None
    m = result.manifest
    retried = f", {result.retries} retried after a worker died" if result.retries else ""
    print(f"packed {m.rows} of {m.entries} entries into {len(m.shards)} shards in "
          f"{result.folder} ({result.written} written, {result.reused} already done{retried})")
    if m.incomplete:
        print(f"{len(m.incomplete)} packed entries lack some frames (listed in manifest.json)")
    failures = m.failures
    if failures:
        print_failures(f"{len(failures)} entries left out:", failures, more=" (see manifest.json)")
        return 1
    return 0


def _verify(folder: str) -> int:
    from avprep.store import verify_store

    report = verify_store(folder)
    for problem in report.problems:
        print(shown(problem, FAILURE_LINE), file=sys.stderr)
    if report.ok:
        print(f"ok: {report.shards} shards, {report.rows} rows match the manifest in {folder}")
        return 0
    print(f"{len(report.problems)} problems in {folder}", file=sys.stderr)
    return 1


def _unpack(args: argparse.Namespace) -> int:
    from avprep.outputs import check_outputs, folder_files
    from avprep.store.unpack import unpack

    if not args.audio_dir and not args.frame_dir:
        raise InputError("unpack needs --audio-dir A, --frame-dir F, or both")
    check_outputs(folder_files("DIR", args.pack), [],
                  owned=[("--audio-dir", args.audio_dir), ("--frame-dir", args.frame_dir)])
    result = unpack(args.pack, args.audio_dir, args.frame_dir)
    print(f"avprep unpack: {result.line()}", file=sys.stderr)
    return 0
