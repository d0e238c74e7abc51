"""``avprep cache``: where avprep's cache folder is, what it holds, and emptying it."""

from __future__ import annotations

import argparse

from avprep.cli import add_command
from avprep.errors import InputError


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``cache``."""
    p = add_command(
        subparsers, "cache",
        "show or clear avprep's cache folder (list caches, model-zoo checkpoints, released files)",
        """
        avprep keeps one cache folder: $AVPREP_CACHE, else $XDG_CACHE_HOME/avprep, else
        ~/.cache/avprep. It holds lists/ (an Arrow copy of each JSON list of 1 MiB or more
        that was read, about half the list's size: 0.19 GB for AudioSet-2M; a list read from
        a new path gets a new copy), models/ (model-zoo checkpoints fetched on first use by
        name: 0.66-0.76 GB each, about 17 GB for all 23) and released/<group>/ (the released
        lists, label CSVs and weights that make prepare-audioset / prepare-vggsound fetch:
        about 0.43 GB for AudioSet, 50 MB for VGGSound).

        --path prints the folder; --info (the default) lists each part with its files and
        size; --clear removes what avprep stored there, every part or the one named, without
        asking. Only avprep's own files go (list caches, files recorded in a fetch-lock.json,
        partial downloads, lock files): other files in the folder are left alone.
        """,
        """
        avprep cache --info
        avprep cache --clear lists
        AVPREP_CACHE=/scratch/avprep-cache avprep cache --path
        """,
        _cache)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--path", action="store_true", help="print the cache folder and exit")
    what.add_argument("--info", action="store_true",
                      help="list what is stored in each part, with sizes (the default)")
    what.add_argument("--clear", nargs="?", const="all", metavar="PART",
                      help="remove what avprep stored: all parts (the default) or one of "
                           "lists, models, released")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # pragma: no cover - the loop returns


def _cache(args: argparse.Namespace) -> int:
    from avprep.cache_dir import PARTS, cache_root, clear, usage

    root = cache_root()
    if args.path:
        print(root)
        return 0
    if args.clear is not None:
        if args.clear != "all" and args.clear not in PARTS:
            raise InputError(f"--clear {args.clear!r}: name one of {', '.join(PARTS)} (or "
                             "nothing for all)")
        removed = clear(None if args.clear == "all" else args.clear)
        for part in removed:
            print(f"removed {part.name:9s} {len(part.files):6d} files {_size(part.size):>9s}  "
                  f"{part.path}")
        print(f"freed {_size(sum(p.size for p in removed))} in {root}")
        return 0
    parts = usage()
    print(f"cache folder: {root}")
    for part in parts:
        print(f"  {part.name:9s} {len(part.files):6d} files {_size(part.size):>9s}  "
              f"{PARTS[part.name]}")
    print(f"  total     {sum(len(p.files) for p in parts):6d} files "
          f"{_size(sum(p.size for p in parts)):>9s}")
    return 0
