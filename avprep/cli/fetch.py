"""``avprep fetch``: download released lists, label CSVs, weights and checkpoints."""

from __future__ import annotations

import argparse
import os
import sys

from avprep.cli import FAILURE_LINE, add_command
from avprep.errors import InputError
from avprep.safetext import shown


def register(subparsers: "argparse._SubParsersAction") -> None:
    """Add ``fetch``."""
    p = add_command(
        subparsers, "fetch",
        "download released lists, label CSVs, weights and checkpoints (resumable, verified)",
        """
        Download the resources NAME... from the manifests into DIR. A name is a file or model
        name from 'avprep fetch --list', or a group: audioset-lists, vggsound-lists (label CSV,
        lists and weights of a dataset), audioset-segments (Google's three segment CSVs: where
        each clip lies in its video; VGGSound's own list is vggsound-csv), pretrained, ablation,
        finetuned, initialization (model groups; initialization: in-initial, the ImageNet start).

        Each file is written as <file>.avprep-part and renamed only when it is complete (its
        announced length met, nothing more) and is what its manifest entry says: a label CSV
        with the dataset's classes, a list with its entries, a weight CSV as long as its list,
        a checkpoint that loads as tensors only. An HTML page or a file over its kind's size
        cap is refused; a compressed body (gzip, deflate) is decoded, never saved as is. A
        dropped connection is retried from where it stopped (HTTP Range with If-Range, so
        changed bytes start over), and running the command again continues an interrupted
        download. --timeout bounds each read, --deadline the whole download of a file; the
        bytes received are kept for the next run.
        The first good copy of a file records its size and SHA-256 in DIR/fetch-lock.json;
        files already in DIR are checked the same way before they are recorded, and every
        later download must match the record. --force downloads again and replaces the file
        and its record. --base-url (or $AVPREP_FETCH_BASE_URL) fetches <URL>/<remote file
        name> from a mirror instead.

        Exit status: 0 every file in place and verified; 1 a download failed or was refused, or
        a file does not match the lock file or is not what it should be (each named with what
        to do; the others are still fetched); 2 unknown names or bad arguments.
        """,
        """
        avprep fetch audioset-lists --dest data/audioset
        avprep fetch cav-mae-scale++ cav-mae-ft-as2m-51.2 --dest checkpoints
        avprep fetch --list
        """,
        _fetch)
    p.add_argument("names", nargs="*", metavar="NAME", help="resources or groups to fetch")
    p.add_argument("--dest", metavar="DIR", help="folder to download into")
    p.add_argument("--list", action="store_true", help="list the names and groups, then exit")
    p.add_argument("--base-url", metavar="URL", help="fetch from this mirror instead")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="retries after a dropped connection or server error (default 3)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds to wait for the server to connect or send the next bytes "
                        "(default 60)")
    p.add_argument("--deadline", type=float, metavar="S",
                   help="seconds one file's download may take, every retry included (default "
                        "3600; 0: no limit); the bytes received are kept and the next run "
                        "continues")
    p.add_argument("--force", action="store_true",
                   help="download again files that are already in DIR and replace them and "
                        "their records in the lock file")


def _fetch(args: argparse.Namespace) -> int:
    from avprep.fetch import DEFAULT_DEADLINE, fetch
    from avprep.manifests import groups, resolve, resources

    if args.list:
        table = resources()
        for group, members in groups().items():
            print(f"{group}: {' '.join(members)}")
        print()
        seen = set()
        for name, res in table.items():
            if res.url in seen:
                continue
            seen.add(res.url)
            print(f"{name:36s} {res.kind:10s} {res.file}")
        return 0
    if not args.names:
        raise InputError("name at least one resource or group (see 'avprep fetch --list')")
    if not args.dest:
        raise InputError("--dest DIR is required")
    if os.path.exists(args.dest) and not os.path.isdir(args.dest):
        raise InputError("--dest must be a folder, not a file", args.dest)
    if args.deadline is None:
        args.deadline = DEFAULT_DEADLINE
    if args.retries < 0 or args.timeout <= 0 or args.deadline < 0:
        raise InputError("--retries and --deadline must be >= 0 and --timeout > 0")
    chosen = resolve(args.names)
    results = fetch(chosen, args.dest, base_url=args.base_url, retries=args.retries,
                    timeout=args.timeout, force=args.force, deadline=args.deadline)
    failed = [r for r in results if not r.ok]
    for r in results:
        if r.ok:
            print(f"{r.status:10s} {r.path} ({r.size} bytes, sha256 {r.sha256[:12]}...)")
    for r in failed:
        print(f"avprep fetch: failed: {shown(r.error, FAILURE_LINE)}", file=sys.stderr)
    print(f"{len(results) - len(failed)} of {len(results)} files in place in {args.dest}")
    return 1 if failed else 0
