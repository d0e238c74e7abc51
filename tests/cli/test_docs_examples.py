"""The documentation's commands are real: every avprep example parses, every link leads to a file,
and `make bench` runs every benchmark script."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from avprep.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def avprep_lines(page: Path):
    """The avprep command lines of ``page``'s bash blocks, continuation lines joined, with
    optional parts (``[--tokens]``, ``[--lists ...]``) left out."""
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" # ")[0].strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line)
            if words[:3] == ["python", "-m", "avprep"]:
                words = ["avprep", *words[3:]]
            if words[0] == "avprep":
                yield line, [w for w in words[1:]
                             if not (w.startswith("[") or w.endswith("]")) and w != "..."]


def test_there_are_examples_on_the_main_pages():
    for name in ("README.md", "commands.md"):
        page = next(p for p in PAGES if p.name == name)
        assert len(list(avprep_lines(page))) >= 5, name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_avprep_example_parses(page):
    parser = build_parser()
    for line, argv in avprep_lines(page):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page.name}: {line}\n{err.getvalue()}")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_lead_to_files(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_make_bench_runs_every_benchmark():
    makefile = (ROOT / "Makefile").read_text()
    bench = makefile[makefile.index("\nbench:"):]
    bench = bench[:bench.index("\n\n")] if "\n\n" in bench else bench
    run = set(re.findall(r"scripts/(bench_\w+\.py)", bench))
    assert run == {p.name for p in (ROOT / "scripts").glob("bench_*.py")}
