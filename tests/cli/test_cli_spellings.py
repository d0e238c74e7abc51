"""One spelling per option: every command takes each spelling of an option and shows one."""

from __future__ import annotations

import argparse
from typing import Dict, Iterator, Tuple

import pytest

from avprep.cli import OPTION_ALIASES, build_parser

# each command with its required arguments, and the option values to spell both ways
COMMANDS = [
    ("validate l.json --labels c.csv --weights w.csv", ("--labels", "--weights")),
    ("weights l.json --labels c.csv -o w.csv", ("--labels",)),
    ("coverage l.json --released r.json --labels c.csv -o p", ("--labels",)),
    ("build-list --released r.json --audio-dir a --frame-dir f -o o.json --labels c.csv "
     "--weights w.csv", ("--labels", "--weights")),
    ("pack l.json -o p --labels c.csv --workers 3", ("--labels", "--workers")),
    ("inspect-batch l.json --labels c.csv --weights w.csv --batch-size 3",
     ("--labels", "--weights", "--batch-size")),
    ("stats l.json --workers 3 --batch-size 5 --target-length 7",
     ("--workers", "--batch-size", "--target-length")),
    ("extract v --audio-dir a --frame-dir f --workers 3", ("--workers",)),
    ("prepare audioset --videos v --out o --workers 3", ("--out", "--workers")),
    ("train pretrain --labels c.csv --batch-size 3 --workers 2 --target-length 7",
     ("--labels", "--batch-size", "--workers", "--target-length")),
    ("train finetune --labels c.csv --batch-size 3 --workers 2 --target-length 7 "
     "--weights w.csv", ("--labels", "--batch-size", "--workers", "--target-length", "--weights")),
    ("eval --data-eval e.json --labels c.csv --batch-size 3 --workers 2 --target-length 7",
     ("--labels", "--batch-size", "--workers", "--target-length")),
]


def parsers(parser: argparse.ArgumentParser,
            name: str = "") -> Iterator[Tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command parser under ``parser`` with its command name."""
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub_name, sub in action.choices.items():
                full = f"{name} {sub_name}".strip()
                yield full, sub
                yield from parsers(sub, full)


def spell(argv: str, canonical: str, other: str) -> list:
    return [other if word == canonical else word for word in argv.split()]


@pytest.mark.parametrize("argv, options", COMMANDS, ids=[c[0].split(" -")[0] for c in COMMANDS])
def test_each_command_takes_every_spelling(argv, options):
    parser = build_parser()
    expected = vars(parser.parse_args(argv.split()))
    for canonical in options:
        assert OPTION_ALIASES[canonical], canonical
        for other in OPTION_ALIASES[canonical]:
            got = vars(parser.parse_args(spell(argv, canonical, other)))
            assert got == expected, (argv, other)


def test_an_option_has_all_its_spellings_wherever_it_appears():
    groups: Dict[str, str] = {alias: canonical for canonical, aliases in OPTION_ALIASES.items()
                              for alias in aliases if canonical != "--out"}  # -o is --output too
    seen = set()
    for name, sub in parsers(build_parser()):
        for action in sub._actions:  # noqa: SLF001
            flags = set(action.option_strings)
            for canonical, aliases in OPTION_ALIASES.items():
                if canonical in flags:
                    seen.add(canonical)
                    assert set(aliases) <= flags, (name, canonical)
            for flag in flags & set(groups):
                assert groups[flag] in flags, (name, flag)
    assert seen == set(OPTION_ALIASES)


def test_help_shows_one_spelling():
    shown = 0
    for name, sub in parsers(build_parser()):
        formatter = sub._get_formatter()  # noqa: SLF001 (what --help prints for each option)
        for action in sub._actions:  # noqa: SLF001
            for canonical, aliases in OPTION_ALIASES.items():
                if canonical in action.option_strings:
                    invocation = formatter._format_action_invocation(action)  # noqa: SLF001
                    words = invocation.replace(",", " ")
                    assert words.split()[0] == canonical, (name, words)
                    assert not set(aliases) & set(words.split()), (name, words)
                    assert canonical in sub.format_help() and canonical in sub.format_usage()
                    shown += 1
    assert shown >= sum(len(options) for _argv, options in COMMANDS)
    # the train commands name the original run scripts' spellings beside the one shown
    text = " ".join(dict(parsers(build_parser()))["train finetune"].format_help().split())
    assert "label CSV (index,mid,display_name); also --label-csv" in text
    assert "also -w, --num-workers (default: 32)" in text
