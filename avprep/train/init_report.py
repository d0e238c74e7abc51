"""The report of an initialization from a checkpoint: what was loaded, what was not.

The original prints the two raw key lists of ``load_state_dict(strict=False)``; here the keys are
grouped by their top-level module (``blocks_a (132 keys)``) in one readable paragraph, and
``init.json`` in the experiment folder keeps every key.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Sequence


def group_keys(keys: Sequence[str]) -> List[str]:
    """``name (n keys)`` per top-level module of ``keys`` (``module.`` prefix ignored), in the
    order they first appear."""
    counts: Counter = Counter()
    for key in keys:
        bare = key[len("module."):] if key.startswith("module.") else key
        counts[bare.split(".", 1)[0]] += 1
    return [f"{name} ({n} key{'s' if n != 1 else ''})" for name, n in counts.items()]


def format_init(init: Dict[str, List[str]], source: str) -> str:
    """Lines saying how many weights came from ``source`` and which were not loaded.

    ``init`` is :func:`avprep.train.initialize.load_init`'s result (``loaded``, ``new``,
    ``ignored``).
    """
    lines = [f"initialized from {source}: loaded {len(init['loaded'])} weights"]
    if init["new"]:
        lines.append(f"  not in the checkpoint, left as initialized: {len(init['new'])} weights: "
                     + ", ".join(group_keys(init["new"])))
    else:
        lines.append("  every weight of the model came from the checkpoint")
    if init["ignored"]:
        lines.append(f"  in the checkpoint but not used by the model: {len(init['ignored'])} "
                     "keys: " + ", ".join(group_keys(init["ignored"])))
    return "\n".join(lines)
