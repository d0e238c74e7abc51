"""``avprep <command>``: parses arguments, calls the Python API, prints a summary, exits.

Every module in this package adds its commands through ``register(subparsers)``; each command's
handler returns the exit code: 0 success, 1 the work ran and found problems or failures, 2 unusable
input or arguments, or an output that cannot be written (a full disk, a read-only folder), 3 avprep
itself failed unexpectedly (a bug; ``--debug`` shows where). Errors print as one line naming the
file and the entry; ``--debug`` shows the traceback before that line (the exit code is the same).

An option means the same under one spelling in every command (``--labels``, ``--weights``,
``--workers``, ``--batch-size``, ``--target-length``); :func:`add_option` adds it with the other
spellings that some commands or the original scripts use (:data:`OPTION_ALIASES`), which ``--help``
does not show.
"""

from __future__ import annotations

import argparse
import importlib
import os
import logging
import pkgutil
import sys
import textwrap
import traceback
from typing import Callable, List, Optional, Sequence, TypeVar

from avprep import __version__
from avprep.errors import MAX_MESSAGE, MAX_PATH, AvprepError, WriteError
from avprep.options import OPTION_ALIASES, HelpFormatter, add_option  # noqa: F401 (API)
from avprep.safetext import shown

Handler = Callable[[argparse.Namespace], int]
T = TypeVar("T")

#: command modules in the order data flows through them, so that ``--help`` reads as a pipeline
PIPELINE_ORDER = ("fetch", "download", "lists", "extract", "prepare", "features", "store", "data", "train")

#: exit code of an unexpected failure, kept apart from 1 (the work found problems)
INTERNAL_ERROR = 3

#: failures a command lists one by one before it only counts the rest
SHOW_FAILURES = 20

def default_workers() -> int:
    """The CPUs this process may use (at least 1): the default number of worker processes."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


#: longest failure line printed (its start and end are kept)
FAILURE_LINE = 400


def add_command(subparsers: "argparse._SubParsersAction", name: str, summary: str,
                description: str, example: str, handler: Handler) -> argparse.ArgumentParser:
    """Add one ``avprep <name>`` command with a description and an example in its ``--help``."""
    parser = subparsers.add_parser(
        name, help=summary,
        description=textwrap.dedent(description).strip(),
        epilog="example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  "),
        formatter_class=HelpFormatter)
    parser.set_defaults(handler=handler, command=name)
    return parser


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine`` and ``--address`` (the Ray cluster to join) to a command."""
    from avprep.engines import engine_names  # light: no decoders, no Ray

    parser.add_argument("--engine", default="local", choices=engine_names(),
                        help="execution engine (default: %(default)s)")
    parser.add_argument("--address", metavar="ADDR",
                        help="with --engine ray: join the Ray cluster at ADDR (default: "
                             "$RAY_ADDRESS if set, else start a local one)")


def check_engine_options(args: argparse.Namespace) -> None:
    """:func:`avprep.engines.check_engine_args` on ``--engine``, ``--workers`` and ``--address``,
    before any work starts."""
    from avprep.engines import check_engine_args

    check_engine_args(args.engine, args.workers, args.address)


def print_failures(header: str, failures: Sequence[T], show: Callable[[T], str] = str,
                   more: str = "") -> None:
    """Print ``header`` and the first :data:`SHOW_FAILURES` failures, one a line as ``show``
    writes them (made safe by :func:`avprep.safetext.shown`), then how many more there are
    (``more`` added), on stderr."""
    print(header, file=sys.stderr)
    for failure in failures[:SHOW_FAILURES]:
        print(f"  {shown(show(failure), FAILURE_LINE)}", file=sys.stderr)
    if len(failures) > SHOW_FAILURES:
        print(f"  ... and {len(failures) - SHOW_FAILURES} more{more}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: global options plus every command found in this package."""
    parser = argparse.ArgumentParser(
        prog="avprep",
        description="Prepare AudioSet and VGGSound for CAV-MAE: lists, media, features, training.",
        epilog="Run 'avprep <command> --help' for a command's options and an example.\n"
               "Every command also takes the other spellings of its options: "
               + "; ".join(f"{', '.join(more)} for {flag}"
                           for flag, more in OPTION_ALIASES.items()) + ".",
        formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"avprep {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and debug logging")
    subparsers = parser.add_subparsers(title="commands", metavar="<command>")
    names = [info.name for info in pkgutil.iter_modules(__path__)]
    names.sort(key=lambda n: (PIPELINE_ORDER.index(n) if n in PIPELINE_ORDER
                              else len(PIPELINE_ORDER), n))
    for name in names:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``avprep`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="avprep: %(levelname)s: %(message)s", stream=sys.stderr)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except AvprepError as err:
        _traceback(args)
        print(f"avprep {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"avprep {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the system refused a read or a write: not a bug in avprep
        _traceback(args)
        where = f"{shown(err.filename, MAX_PATH)}: " if err.filename else ""
        reason = shown(" ".join(str(err.strerror or err).split()), MAX_MESSAGE)
        print(f"avprep {args.command}: error: {where}{reason}", file=sys.stderr)
        return WriteError.exit_code
    except Exception as err:  # a bug or an unforeseen failure: still one line unless --debug
        _traceback(args)
        print(f"avprep {args.command}: internal error: {type(err).__name__}: "
              f"{shown(' '.join(str(err).split()), MAX_MESSAGE)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return INTERNAL_ERROR


def _traceback(args: argparse.Namespace) -> None:
    """With ``--debug``, print the traceback of the error being handled (the exit code and the
    error line stay what they are without it)."""
    if args.debug:
        traceback.print_exc(file=sys.stderr)
