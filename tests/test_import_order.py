"""Stages import one way: a module may import its own stage and earlier ones, never a later one.

Two checks: every ``import`` statement in the package (function-level ones too, read from the
source), and, in a fresh interpreter per stage, what importing every module of that stage alone
actually loads.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

import avprep

PACKAGE = Path(avprep.__file__).parent

#: the stages in the order data flows; a stage is a list of top-level modules or subpackages
STAGES: List[List[str]] = [
    ["__init__", "errors", "safetext", "atomic", "constants", "safeid", "options", "progress",
     "digest", "lazy", "warnfilter", "framespec", "complete", "layout", "outputs", "manifests",
     "cache_dir", "transfer", "engines", "runlogs"],
    ["lists"],
    ["synth"],
    ["media"],
    ["download"],
    ["features"],
    ["store"],
    ["data"],
    ["models"],
    ["train"],
    ["filecheck", "fetch"],
    ["prepare"],
    ["cli", "__main__"],
]
STAGE_OF: Dict[str, int] = {part: k for k, parts in enumerate(STAGES) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(module: str) -> int:
    """The stage of ``avprep.<part>...``; ``avprep`` alone is the package's ``__init__``."""
    parts = module.split(".")
    part = parts[1] if len(parts) > 1 else "__init__"
    if part not in STAGE_OF:
        raise AssertionError(f"{module} belongs to no stage: add {part!r} to STAGES")
    return STAGE_OF[part]


def imported_modules(path: Path) -> List[tuple]:
    """(line, module) for every avprep module ``path`` imports, at any depth of the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "avprep":
            if node.module == "avprep":  # from avprep import atomic
                out.extend((node.lineno, f"avprep.{a.name}") for a in node.names
                           if a.name != "__version__")
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names
                       if a.name.split(".")[0] == "avprep")
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_stage():
    for path in SOURCES:
        stage_of(module_name(path))


def test_no_import_statement_reaches_a_later_stage():
    backwards = []
    for path in SOURCES:
        here = module_name(path)
        for line, target in imported_modules(path):
            if stage_of(target) > stage_of(here):
                backwards.append(f"{path.relative_to(PACKAGE.parent)}:{line} {here} -> {target}")
    assert backwards == [], "imports against the stage order:\n" + "\n".join(backwards)


def test_features_and_store_are_separate_stages():
    """The store computes fbank with features; features never reaches into the store."""
    assert stage_of("avprep.features.kaldi") < stage_of("avprep.store.pack")


_LOADED = """
import importlib, json, pkgutil, sys
names = json.loads(sys.argv[1])
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "avprep" or m.startswith("avprep."))))
"""


def _modules_of_stage(k: int) -> List[str]:
    return [m for m in (module_name(p) for p in SOURCES)
            if stage_of(m) == k and m != "avprep.__main__"]


@pytest.mark.parametrize("k", range(len(STAGES)), ids=["+".join(s) for s in STAGES])
def test_importing_a_stage_alone_loads_no_later_stage(k):
    names = _modules_of_stage(k)
    assert names, f"stage {STAGES[k]} has no modules"
    done = subprocess.run([sys.executable, "-c", _LOADED, json.dumps(names)],
                          capture_output=True, text=True, cwd=PACKAGE.parent, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    later = [m for m in json.loads(done.stdout.splitlines()[-1]) if stage_of(m) > k]
    assert later == [], f"importing stage {STAGES[k]} loaded later stages: {later}"


def test_the_layout_loads_no_numerical_libraries():
    """Extraction workers import the layout; it must not cost them NumPy, pyarrow or torch."""
    code = ("import sys, avprep.layout, avprep.safeid, avprep.lists.ids; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pyarrow', 'torch'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
