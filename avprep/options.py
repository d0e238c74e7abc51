"""Command-line options with one spelling in ``--help`` and their other accepted spellings.

A leaf module (standard library only): the commands (:mod:`avprep.cli`) and the training options
(:mod:`avprep.train.config`) add their options through :func:`add_option`.
"""

from __future__ import annotations

import argparse
import copy
import textwrap
from typing import Any, Dict, List, Tuple

#: the spelling ``--help`` shows -> the others every command accepts for the same option
OPTION_ALIASES: Dict[str, Tuple[str, ...]] = {
    "--labels": ("--label-csv",),
    "--weights": ("--weight_file", "--weight-file"),
    "--workers": ("-w", "--num-workers"),
    "--batch-size": ("-b",),
    "--target-length": ("--target_length",),
    "--out": ("-o", "--output"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` as written (descriptions keep their line breaks), each option under the one
    spelling that :func:`add_option` shows, never split at a hyphen."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = getattr(action, "hidden_flags", ())
        if hidden:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings if s not in hidden]
        return super()._format_action_invocation(action)

    def _split_lines(self, text: str, width: int) -> List[str]:
        # never break an option name such as --num-workers at its hyphen
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def add_option(parser: argparse.ArgumentParser, flag: str, *args: Any, mention: bool = False,
               **kwargs: Any) -> argparse.Action:
    """``parser.add_argument(flag, *args, **kwargs)`` that also accepts the other spellings of
    ``flag`` (:data:`OPTION_ALIASES`); ``--help`` shows ``flag`` (and ``args``) only, and with
    ``mention`` ends the help text with the other spellings ("also -w, --num-workers")."""
    taken = parser._option_string_actions  # noqa: SLF001 (argparse keeps no public view)
    aliases = [a for a in OPTION_ALIASES.get(flag, ()) if a not in taken and a not in args]
    text = kwargs.get("help")
    if mention and aliases and text not in (None, argparse.SUPPRESS):
        also = f"; also {', '.join(aliases)}"
        default = " (default: %(default)s)"
        kwargs["help"] = (text[: -len(default)] + also + default if text.endswith(default)
                          else text + also)
    action = parser.add_argument(flag, *args, *aliases, **kwargs)
    action.hidden_flags = frozenset(aliases)  # type: ignore[attr-defined]
    return action
