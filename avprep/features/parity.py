"""The rule that decides whether two fbanks are "the same" (SPEC 3).

The log of a near-silent mel bin depends on the order of floating-point operations, so a bare
maximum difference is the wrong test. In normalized units (difference / std): at most 2e-3 where
the reference log-mel is above -10, at most 5e-2 anywhere, and a mean absolute difference of at
most 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avprep.constants import NORM_STD

LOUD_LOG_MEL = -10.0
MAX_LOUD = 2e-3
MAX_ANY = 5e-2
MAX_MEAN = 1e-4


@dataclass(frozen=True)
class FbankParity:
    """Differences between two fbanks in normalized units, and whether they pass the rule."""

    max_loud: float
    max_any: float
    mean: float

    @property
    def ok(self) -> bool:
        """Whether every figure is within the SPEC 3 limits."""
        return self.max_loud <= MAX_LOUD and self.max_any <= MAX_ANY and self.mean <= MAX_MEAN

    def __str__(self) -> str:
        return (f"max {self.max_loud:.3g} where log-mel > {LOUD_LOG_MEL:g} (limit {MAX_LOUD:g}), "
                f"max {self.max_any:.3g} anywhere (limit {MAX_ANY:g}), "
                f"mean {self.mean:.3g} (limit {MAX_MEAN:g})")


def fbank_parity(ours, reference, std: float = NORM_STD) -> FbankParity:
    """Compare two un-normalized log-mel fbanks of the same shape (tensors or arrays).

    Differences are divided by ``std`` (normalized units); "loud" bins are those where
    ``reference`` exceeds -10. Shapes must agree: a different number of frames is not parity.
    """
    a = np.asarray(_numpy(ours), dtype=np.float64)
    b = np.asarray(_numpy(reference), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"fbank shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return FbankParity(0.0, 0.0, 0.0)
    diff = np.abs(a - b) / std
    loud = b > LOUD_LOG_MEL
    return FbankParity(max_loud=float(diff[loud].max()) if loud.any() else 0.0,
                       max_any=float(diff.max()), mean=float(diff.mean()))


def _numpy(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return x
