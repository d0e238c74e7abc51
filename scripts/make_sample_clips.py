#!/usr/bin/env python3
"""Make a small AudioSet- or VGGSound-like download folder and released-format files for it.

The command line of :func:`avprep.synth.make_samples` (see :mod:`avprep.synth.samples`): clips
under OUT/videos (one of them a truncated download, unless --no-broken), the released label CSV,
lists and weights under OUT/released; prints what was written as JSON. Used by ``make demo``.

    python scripts/make_sample_clips.py demo-out/samples --dataset audioset
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from avprep.synth.samples import DATASETS, make_samples


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: make the samples and print what was written as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n"
               "  python scripts/make_sample_clips.py demo-out/samples --dataset audioset")
    parser.add_argument("out", type=Path, help="folder to write videos/ and released/ into")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="audioset")
    parser.add_argument("--clips", type=int, default=6, help="clips to make (default 6)")
    parser.add_argument("--missing", type=int, default=4,
                        help="ids in the lists that nobody has (default 4)")
    parser.add_argument("--no-broken", action="store_true", help="no truncated download")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per clip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    info = make_samples(args.out, args.dataset, args.clips, args.missing, not args.no_broken,
                        args.duration, args.seed)
    json.dump(info, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
