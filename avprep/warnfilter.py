"""``-W FILTER`` on the training commands, as ``python -W`` takes it.

Every published CAV-MAE script runs ``python -W ignore ../../src/run_cavmae_*.py ...``; replacing
the script with ``avprep train pretrain`` may leave ``-W ignore`` behind it, so the train commands
and ``avprep eval`` accept the option. A filter is ``action[:message[:category[:module[:lineno]]]]``
with Python's meanings (an action may be abbreviated: ``-W i``); it applies to the command's process
and, through ``PYTHONWARNINGS``, to processes it starts (spawned data-loading workers, torchrun
children inherit it too).
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import os
import re
import warnings
from typing import Sequence, Type

from avprep.errors import InputError

ACTIONS = ("default", "always", "ignore", "module", "once", "error")


def add_warning_option(parser: argparse.ArgumentParser) -> None:
    """Add ``-W FILTER`` (repeatable) to ``parser``."""
    parser.add_argument("-W", dest="warning_filters", action="append", default=[],
                        metavar="FILTER",
                        help="a Python warning filter, as 'python -W' takes it (the published "
                             "scripts run 'python -W ignore ...'): action[:message[:category"
                             "[:module[:lineno]]]], e.g. -W ignore; repeatable")


def _action(text: str, option: str) -> str:
    if text:
        for action in ACTIONS:
            if action.startswith(text):
                return action
    raise InputError(f"-W {option}: unknown warning action {text!r} (one of {', '.join(ACTIONS)})")


def _category(text: str, option: str) -> Type[Warning]:
    if not text:
        return Warning
    module, _, name = text.rpartition(".")
    try:
        found = getattr(importlib.import_module(module) if module else builtins, name)
    except (ImportError, AttributeError):
        raise InputError(f"-W {option}: unknown warning category {text!r}") from None
    if not (isinstance(found, type) and issubclass(found, Warning)):
        raise InputError(f"-W {option}: {text!r} is not a Warning category")
    return found


def apply_warning_filters(options: Sequence[str]) -> None:
    """Install each ``-W`` filter in this process and add it to ``PYTHONWARNINGS``.

    Raises :class:`InputError` for a filter Python would not accept.
    """
    for option in options:
        fields = [f.strip() for f in option.split(":")]
        if len(fields) > 5:
            raise InputError(f"-W {option}: too many fields (at most action:message:category:"
                             "module:lineno)")
        fields += [""] * (5 - len(fields))
        action = _action(fields[0], option)
        category = _category(fields[2], option)
        try:
            lineno = int(fields[4]) if fields[4] else 0
        except ValueError:
            raise InputError(f"-W {option}: line number {fields[4]!r} is not an integer") from None
        if lineno < 0:
            raise InputError(f"-W {option}: line number must not be negative")
        module = re.escape(fields[3]) + r"\Z" if fields[3] else ""
        warnings.filterwarnings(action, re.escape(fields[1]), category, module, lineno)
    if options:
        inherited = os.environ.get("PYTHONWARNINGS", "")
        os.environ["PYTHONWARNINGS"] = ",".join([inherited, *options] if inherited else options)
