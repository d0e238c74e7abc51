"""Train-mode augmentations of SPEC 3, split into drawing the random choices and applying them.

Every random choice a sample needs (its frame, its mixup partner and lambda, the SpecAugment masks,
the noise level and the roll) is drawn up front into an :class:`AugmentPlan` from one
``numpy.random.Generator``; applying a plan is deterministic. So a sample's augmentation depends only
on the generator's seed, which the Dataset derives from (seed, epoch, index): the same in any worker,
with any number of workers, and the same whether the fbank is made in the loader or per batch.

Distributions, as the original loader draws them:
- frame: uniform over 0..total_frame-1 (train mode; total_frame is the frames the data records)
  or fixed (eval mode);
- mixup with probability ``mixup``: partner uniform over the dataset, lambda ~ Beta(10, 10);
- frequency / time mask (torchaudio's ``FrequencyMasking`` / ``TimeMasking``, one mask each):
  width ``floor(u1 * param)``, start ``floor(u2 * (size - u1 * param))``, u1, u2 ~ U[0, 1);
  masked values are 0 before normalization;
- noise: ``fbank + U[0,1)^(T x F) * s / 10`` with s ~ U[0, 1), then a roll along time by an
  integer uniform in [-T, T).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from avprep.data.config import AVConfig

BETA_A = 10.0
BETA_B = 10.0


@dataclass(frozen=True)
class AugmentPlan:
    """The random choices for one sample; ``None`` fields mean the augmentation is off."""

    frame: int
    mix_index: Optional[int] = None
    mix_lambda: float = 1.0
    mix_frame: Optional[int] = None
    freq_mask: Optional[Tuple[int, int]] = None  # (start, end) bins, end exclusive
    time_mask: Optional[Tuple[int, int]] = None  # (start, end) frames, end exclusive
    noise_scale: Optional[float] = None
    noise_seed: int = 0
    roll: int = 0

    def as_tensor(self) -> torch.Tensor:
        """The fbank-side choices as int64/float pairs packed into a float64 ``[8]`` tensor."""
        fm = self.freq_mask or (0, 0)
        tm = self.time_mask or (0, 0)
        noise = -1.0 if self.noise_scale is None else self.noise_scale
        return torch.tensor([fm[0], fm[1], tm[0], tm[1], noise, float(self.noise_seed), self.roll,
                             0.0], dtype=torch.float64)

    @staticmethod
    def fbank_part(row: torch.Tensor) -> "AugmentPlan":
        """The plan's fbank-side choices back from :meth:`as_tensor` (frame and mixup left out)."""
        v = row.tolist()
        return AugmentPlan(frame=0,
                           freq_mask=(int(v[0]), int(v[1])) if v[1] > v[0] else None,
                           time_mask=(int(v[2]), int(v[3])) if v[3] > v[2] else None,
                           noise_scale=None if v[4] < 0 else float(v[4]),
                           noise_seed=int(v[5]), roll=int(v[6]))


def _mask(rng: np.random.Generator, param: int, size: int) -> Optional[Tuple[int, int]]:
    value = rng.random() * param
    start = int(rng.random() * (size - value))
    end = start + int(value)
    return (start, end) if end > start else None


def draw_frame(config: AVConfig, rng: np.random.Generator) -> int:
    """The frame to show: fixed in eval mode, uniform over the clip's frames otherwise."""
    fixed = config.eval_frame
    return fixed if fixed is not None else int(rng.integers(0, config.frame_count))


def draw_plan(config: AVConfig, dataset_size: int, rng: np.random.Generator) -> AugmentPlan:
    """Draw every random choice of one sample, always in the same order."""
    frame = draw_frame(config, rng)
    mix_index, mix_lambda, mix_frame = None, 1.0, None
    if config.mixup > 0 and rng.random() < config.mixup:
        mix_index = int(rng.integers(0, dataset_size))
        mix_lambda = float(rng.beta(BETA_A, BETA_B))
        mix_frame = draw_frame(config, rng)
    freq_mask = _mask(rng, config.freqm, config.num_mel_bins) if config.freqm else None
    time_mask = _mask(rng, config.timem, config.fbank_rows) if config.timem else None
    noise_scale, noise_seed, roll = None, 0, 0
    if config.noise:
        noise_scale = float(rng.random())
        noise_seed = int(rng.integers(0, 2 ** 52))
        roll = int(rng.integers(-config.fbank_rows, config.fbank_rows))
    return AugmentPlan(frame, mix_index, mix_lambda, mix_frame, freq_mask, time_mask,
                       noise_scale, noise_seed, roll)


def blend_waveforms(first: torch.Tensor, second: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * first + (1 - lam) * second``; both ``[C, N]``, mean-removed. The original then
    removes the mean of the mix too (:func:`avprep.features.centred_fbank` does).

    ``second`` is zero-padded or cut to ``first``'s length (and reduced to its first channel when
    the channel counts differ).
    """
    n = first.shape[-1]
    if second.shape[0] != first.shape[0]:
        second = second[:1].expand(first.shape[0], -1)
    if second.shape[-1] < n:
        second = torch.nn.functional.pad(second, (0, n - second.shape[-1]))
    elif second.shape[-1] > n:
        second = second[..., :n]
    return lam * first + (1 - lam) * second


def mix_images(first: torch.Tensor, second: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * first + (1 - lam) * second``."""
    return lam * first + (1 - lam) * second


def apply_masks(fb: torch.Tensor, plan: AugmentPlan) -> torch.Tensor:
    """Zero the plan's frequency bins and time frames of ``fb [..., T, F]`` in place; return it."""
    if plan.freq_mask is not None:
        fb[..., :, plan.freq_mask[0]:plan.freq_mask[1]] = 0
    if plan.time_mask is not None:
        fb[..., plan.time_mask[0]:plan.time_mask[1], :] = 0
    return fb


def noise_tensor(shape: Sequence[int], seed: int,
                 device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """U[0, 1) float32 noise of ``shape`` on ``device`` from a generator seeded with ``seed``
    (the same numbers for the same seed on a CPU; CUDA's generator gives other numbers)."""
    device = torch.device(device or "cpu")
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return torch.rand(tuple(shape), generator=generator, dtype=torch.float32, device=device)


def apply_noise(fb: torch.Tensor, plan: AugmentPlan) -> torch.Tensor:
    """Add the plan's scaled uniform noise to ``fb [T, F]``, then roll it along time."""
    if plan.noise_scale is None:
        return fb
    noise = noise_tensor(fb.shape, plan.noise_seed, fb.device)
    fb = fb + noise * plan.noise_scale / 10
    return torch.roll(fb, plan.roll, 0)


def label_vector(n_classes: int, indices: Sequence[int], smooth: float = 0.0) -> torch.Tensor:
    """Multi-hot float32 label: ``smooth / n`` everywhere, ``1 - smooth`` at ``indices``."""
    label = np.zeros(n_classes) + smooth / n_classes
    label[list(indices)] = 1.0 - smooth
    return torch.from_numpy(label.astype(np.float32))


def mixed_label_vector(n_classes: int, first: Sequence[int], second: Sequence[int], lam: float,
                       smooth: float = 0.0) -> torch.Tensor:
    """Mixup label: ``smooth / n`` plus ``lam (1 - smooth)`` per label of ``first`` and
    ``(1 - lam)(1 - smooth)`` per label of ``second``."""
    label = np.zeros(n_classes) + smooth / n_classes
    np.add.at(label, list(first), lam * (1.0 - smooth))
    np.add.at(label, list(second), (1.0 - lam) * (1.0 - smooth))
    return torch.from_numpy(label.astype(np.float32))
