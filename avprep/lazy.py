"""Package names imported on first use (PEP 562), so that importing a package stays light."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, List, Mapping, Tuple

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose names ``exports`` maps to the modules
    that define them: a name is imported from its module when first asked for. A package
    writes ``__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)``.
    """
    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> List[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
