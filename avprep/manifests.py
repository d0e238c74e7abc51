"""The released resources as the files in ``manifests/`` describe them (TOML, read with tomllib).

``audioset.toml`` and ``vggsound.toml`` list each dataset's label CSV, data lists and weight lists
(URL, file name, kind, expected entries, classes); ``models.toml`` the model zoo. Any entry may
set ``max_bytes``, its size cap (else its kind's, :data:`avprep.filecheck.MAX_BYTES`). The folder is found in
this order: ``$AVPREP_MANIFESTS``; ``manifests/`` of a source checkout (beside the ``avprep``
package); ``<prefix>/share/avprep/manifests`` where an installed wheel puts it (setup.cfg's
``data_files``), for the environment's prefix or the user base of ``pip install --user``.
:func:`dataset_facts` gives what preparation needs of a dataset manifest: its splits, label CSV,
training split and that split's released weights.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from avprep.errors import InputError

DATASETS = ("audioset", "vggsound")
MANIFESTS = DATASETS + ("models",)
MODEL_GROUPS = ("pretrained", "ablation", "finetuned", "initialization")
LIST_GROUPS = {f"{d}-lists": d for d in DATASETS}
#: kinds of dataset files that are not released with the model zoo (kept out of ``<d>-lists``)
SEGMENT_KINDS = ("segments",)


def _candidates() -> List[Path]:
    found = []
    explicit = os.environ.get("AVPREP_MANIFESTS")
    if explicit:
        found.append(Path(explicit))
    found.append(Path(__file__).resolve().parent.parent / "manifests")
    bases = [sysconfig.get_path("data"), sys.prefix, sys.base_prefix, site.USER_BASE]
    for base in dict.fromkeys(b for b in bases if b):
        found.append(Path(base) / "share" / "avprep" / "manifests")
    return found


def manifest_dir() -> Path:
    """The folder that holds the manifest files."""
    for folder in _candidates():
        if (folder / "models.toml").is_file():
            return folder
    raise InputError("manifests not found; looked in "
                     + ", ".join(str(p) for p in _candidates()))


def load_manifest(name: str) -> Dict[str, Any]:
    """The parsed manifest ``name`` (``audioset``, ``vggsound`` or ``models``)."""
    if name not in MANIFESTS:
        raise InputError(f"unknown manifest {name!r}; known: {', '.join(MANIFESTS)}")
    path = manifest_dir() / f"{name}.toml"
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("manifest file not found", path) from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"manifest is not valid TOML: {err}", path) from None


@dataclass(frozen=True)
class Resource:
    """One downloadable file: a label CSV, a list, a weight list or a checkpoint."""

    name: str
    url: str
    file: str
    kind: str
    source: str
    info: Dict[str, Any] = field(default_factory=dict, compare=False)


def resources() -> Dict[str, Resource]:
    """Every resource of every manifest by name (model aliases included)."""
    out: Dict[str, Resource] = {}
    for dataset in DATASETS:
        for item in load_manifest(dataset)["files"]:
            out[item["name"]] = Resource(item["name"], item["url"], item["file"], item["kind"],
                                         dataset, dict(item))
    for item in load_manifest("models")["models"]:
        res = Resource(item["name"], item["url"], item["file"], "checkpoint", "models",
                       dict(item))
        out[item["name"]] = res
        for alias in item.get("aliases", []):
            out[alias] = res
    return out


def groups() -> Dict[str, List[str]]:
    """Names that stand for several resources: ``audioset-lists``, ``vggsound-lists`` (a
    dataset's released files), the groups that files name (``audioset-segments``) and the model
    groups ``pretrained``, ``ablation``, ``finetuned``, ``initialization``."""
    out: Dict[str, List[str]] = {}
    for group, dataset in LIST_GROUPS.items():
        files = load_manifest(dataset)["files"]
        out[group] = [f["name"] for f in files if f["kind"] not in SEGMENT_KINDS]
        for f in files:
            if "group" in f:
                out.setdefault(f["group"], []).append(f["name"])
    models = load_manifest("models")["models"]
    for group in MODEL_GROUPS:
        out[group] = [m["name"] for m in models if m["group"] == group]
    return out


def resolve(names: Iterable[str], table: Optional[Dict[str, Resource]] = None) -> List[Resource]:
    """The resources that ``names`` (resource or group names) stand for, each once, in order."""
    table = table if table is not None else resources()
    known_groups = groups()
    out: Dict[str, Resource] = {}
    for name in names:
        members = known_groups.get(name, [name])
        for member in members:
            if member not in table:
                raise InputError(f"unknown resource {member!r}; run 'avprep fetch --list' for "
                                 "the names")
            res = table[member]
            out.setdefault(res.url, res)
    return list(out.values())


@dataclass(frozen=True)
class DatasetFacts:
    """What preparing a dataset needs from its manifest.

    ``splits`` are the released lists' file stems in manifest order (``audioset_2m_cleaned``, ...);
    ``train_split`` is the one that gets weights; ``train_weights`` the file name of its released
    weights (None when the manifest has none); ``fetch_group`` the ``avprep fetch`` group of the
    released files; ``id_scheme`` the ``--ids`` mapping of download names.
    """

    dataset: str
    label_csv: str
    splits: Tuple[str, ...]
    train_split: str
    train_weights: Optional[str]
    fetch_group: str
    id_scheme: str


def _stem(file: str) -> str:
    return file[: -len(".json")] if file.endswith(".json") else file


def dataset_facts(dataset: str) -> DatasetFacts:
    """The preparation facts of ``dataset`` (``audioset`` or ``vggsound``) from its manifest.

    The manifest's top-level ``label_csv`` names the label resource and ``train_split`` the
    training list (either by resource name); an optional ``splits`` array of resource names
    restricts and orders the lists (default: every ``kind = "list"`` file in file order). A
    manifest without ``train_split`` takes the list that a ``weights`` file is ``weights_for``.
    """
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    manifest = load_manifest(dataset)
    where = manifest_dir() / f"{dataset}.toml"
    files = {item["name"]: item for item in manifest.get("files", [])}

    def named(name: object, kind: str, field_name: str) -> Dict[str, Any]:
        item = files.get(str(name))
        if item is None or item.get("kind") != kind:
            raise InputError(f"{field_name} = {name!r} names no {kind} file of the manifest",
                             where)
        return item

    labels = named(manifest.get("label_csv"), "labels", "label_csv")
    lists = ([named(n, "list", "splits") for n in manifest["splits"]] if "splits" in manifest
             else [item for item in files.values() if item.get("kind") == "list"])
    if not lists:
        raise InputError("the manifest names no data list", where)
    train_name = manifest.get("train_split")
    if train_name is None:
        train_name = next((item["weights_for"] for item in files.values()
                           if item.get("kind") == "weights" and "weights_for" in item), None)
    train = named(train_name, "list", "train_split")
    if train not in lists:
        raise InputError(f"train_split = {train_name!r} is not one of the splits", where)
    weights = next((item["file"] for item in files.values() if item.get("kind") == "weights"
                    and item.get("weights_for") == train["name"]), None)
    group = next(g for g, d in LIST_GROUPS.items() if d == dataset)
    return DatasetFacts(dataset=dataset, label_csv=labels["file"],
                        splits=tuple(_stem(item["file"]) for item in lists),
                        train_split=_stem(train["file"]), train_weights=weights,
                        fetch_group=group, id_scheme=dataset)
