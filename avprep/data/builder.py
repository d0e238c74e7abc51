"""The one implementation behind ``AVDataset`` and ``AudiosetDataset``: list index -> sample.

Per sample: draw the :class:`~avprep.data.augment.AugmentPlan`; audio (stored fbank, or wav ->
mean removed -> [mixup] -> Kaldi fbank), pad or cut to ``target_length``, [the rows of the
chosen frame's audio window], SpecAugment masks, normalize, noise and roll; the frame
(``[3, res, res]``), mixed with the partner's for mixup; the label vector. In strict mode a
missing or unreadable file raises ``MediaError`` naming the id and the file; in lenient mode the
original's substitute is used and counted.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from avprep.data.augment import (AugmentPlan, apply_masks, apply_noise, draw_plan, label_vector,
                                 blend_waveforms, mix_images, mixed_label_vector)
from avprep.data.config import AVConfig
from avprep.data.image import fallback_image, load_image
from avprep.data.sources import Clip, Source, frame_order
from avprep.data.window import frame_window
from avprep.errors import MediaError
from avprep.lists.labels import class_indices
from avprep.safetext import shown

logger = logging.getLogger("avprep.data")

#: raw (un-normalized) value of the original's substitute fbank rows
FALLBACK_FBANK_VALUE = 0.01
#: rows of the substitute the original returns when the Kaldi fbank fails (e.g. audio too short)
SHORT_AUDIO_ROWS = 512

# audio status codes carried with a waveform in batch-fbank mode
AUDIO_OK, AUDIO_MISSING, AUDIO_TOO_SHORT = 0, 1, 2


@dataclass
class AudioResult:
    """A clip's audio before padding: the raw fbank, or (batch mode) the waveform; ``status``
    says whether a substitute stands in for it."""

    fbank: Optional[torch.Tensor] = None
    waveform: Optional[torch.Tensor] = None
    status: int = AUDIO_OK


def substitute_fbank(config: AVConfig, status: int) -> torch.Tensor:
    """The original's raw substitute fbank (``target_length`` rows) for an audio status."""
    out = torch.zeros((config.target_length, config.num_mel_bins), dtype=torch.float32)
    rows = config.target_length if status == AUDIO_MISSING else SHORT_AUDIO_ROWS
    out[:rows] = FALLBACK_FBANK_VALUE
    return out


def fbank_rows_of(config: AVConfig, frame: int) -> Tuple[int, int]:
    """Rows ``(start, end)`` of the padded ``target_length`` fbank that a sample showing
    ``frame`` carries: all of them, or with ``audio_window`` the window centred on the frame
    (:func:`avprep.data.window.frame_window`)."""
    if config.audio_window is None:
        return 0, config.target_length
    return frame_window(frame, config.frame_count, config.target_length, config.audio_window)


def finish_fbank(config: AVConfig, raw: torch.Tensor, plan: AugmentPlan) -> torch.Tensor:
    """Raw fbank -> padded or cut to ``target_length`` -> [the rows of the plan's frame's audio
    window] -> masks -> normalization -> noise, roll.

    Works in one new tensor, in place; the values are those of ``avprep.features.pad_or_cut``
    then ``normalize``.
    """
    start, end = fbank_rows_of(config, plan.frame)
    fb = torch.zeros((end - start, raw.shape[1]), dtype=torch.float32, device=raw.device)
    n = min(end, raw.shape[0]) - start
    if n > 0:
        fb[:n] = raw[start:start + n]
    apply_masks(fb, plan)
    if not config.skip_norm:
        fb.sub_(config.mean).div_(config.std)
    return apply_noise(fb, plan)


class SampleBuilder:
    """Turns list indices into samples for one source, label set and config."""

    def __init__(self, source: Source, label_index: Dict[str, int], config: AVConfig):
        self.source = source
        self.label_index = label_index
        self.n_classes = len(label_index)
        self.config = config
        self.substitutions: collections.Counter = collections.Counter()

    # random choices ------------------------------------------------------------------------
    def rng(self, index: int, epoch: int, position: Optional[int] = None) -> np.random.Generator:
        """The generator of sample ``index`` in ``epoch``, when a seed is set: from (seed, epoch,
        index), or for a sampler's draw at ``position`` of the epoch's sequence from (seed, epoch,
        index, position), so that every draw of a clip gets its own choices. Without a seed, from
        torch's process random state (seeded per DataLoader worker)."""
        if self.config.seed is not None:
            key = [int(self.config.seed), int(epoch), int(index)]
            return np.random.default_rng(key if position is None else key + [int(position)])
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,)).item()))

    def plan(self, index: int, epoch: int, position: Optional[int] = None) -> AugmentPlan:
        """Every random choice of sample ``index`` in ``epoch`` (drawn at ``position``)."""
        return draw_plan(self.config, len(self.source), self.rng(index, epoch, position))

    # substitutes ----------------------------------------------------------------------------
    def _substitute(self, kind: str, clip: Clip, where: str, reason: str) -> None:
        self.substitutions[kind] += 1
        logger.warning("substitute (%s) for %s: %s: %s", kind, shown(clip.video_id),
                       shown(where, 300), shown(reason, 300))

    # labels ---------------------------------------------------------------------------------
    def label_indices(self, clip: Clip) -> List[int]:
        """Class indices of ``clip``'s labels (:func:`avprep.lists.labels.class_indices`):
        ``FormatError`` for a label not in the CSV or an empty label string."""
        return class_indices(clip.labels, self.label_index, getattr(self.source, "path", None),
                             clip.video_id)

    # audio ----------------------------------------------------------------------------------
    def audio(self, clip: Clip, plan: AugmentPlan, partner: Optional[Clip],
              waveform_only: bool = False) -> AudioResult:
        """The raw fbank (or, with ``waveform_only``, the waveform's channel 0) of ``clip``,
        mixed with ``partner``'s waveform when given."""
        cfg = self.config
        if partner is None and not waveform_only and cfg.use_stored_fbank \
                and cfg.num_mel_bins == 128:
            stored = clip.stored_fbank()
            if stored is not None:
                return self._check_length(AudioResult(fbank=stored), clip, clip.wav_name())
        from avprep.features import centred_fbank, remove_mean
        current = clip
        try:
            waveform, rate = clip.waveform()
            if partner is not None:  # as the original: both mean-removed, mixed, and the mix too
                current = partner
                other, _ = partner.waveform()
                waveform = blend_waveforms(remove_mean(waveform), remove_mean(other),
                                           plan.mix_lambda)
        except MediaError as err:
            if cfg.strict:
                if err.entry is None:
                    err = MediaError(err.message, err.path, current.video_id, err.stage)
                raise err
            self._substitute("audio_missing", current, current.wav_name(), err.message)
            return AudioResult(status=AUDIO_MISSING)
        if waveform_only:
            from avprep.features import num_frames
            result = AudioResult(waveform=remove_mean(waveform)[0].contiguous())
            if num_frames(waveform.shape[-1], rate) == 0:
                result = AudioResult(status=AUDIO_TOO_SHORT)
            return self._check_length(result, clip, clip.wav_name())
        fb = centred_fbank(waveform, rate, cfg.num_mel_bins)
        return self._check_length(AudioResult(fbank=fb), clip, clip.wav_name())

    def _check_length(self, result: AudioResult, clip: Clip, where: str) -> AudioResult:
        empty = result.status == AUDIO_TOO_SHORT or (
            result.fbank is not None and result.fbank.shape[0] == 0)
        if not empty:
            return result
        reason = "audio is shorter than one 25 ms window"
        if self.config.strict:
            raise MediaError(reason, where, clip.video_id, stage="fbank")
        self._substitute("audio_too_short", clip, where, reason)
        return AudioResult(status=AUDIO_TOO_SHORT)

    def raw_fbank(self, clip: Clip, plan: AugmentPlan, partner: Optional[Clip]) -> torch.Tensor:
        """The un-padded, un-normalized fbank of ``clip`` (mixed with ``partner``), or the
        original's substitute."""
        result = self.audio(clip, plan, partner)
        if result.status == AUDIO_OK:
            return result.fbank
        return substitute_fbank(self.config, result.status)

    def fbank(self, clip: Clip, plan: AugmentPlan, partner: Optional[Clip]) -> torch.Tensor:
        """The finished ``[target_length, bins]`` fbank of ``clip`` under ``plan`` (its frame's
        ``[audio_window, bins]`` rows with an audio window)."""
        return finish_fbank(self.config, self.raw_fbank(clip, plan, partner), plan)

    # image ----------------------------------------------------------------------------------
    def _frame_source(self, clip: Clip, frame: int):
        for k in frame_order(frame):
            src = clip.frame(k)
            if src is not None:
                if k != frame:
                    self._substitute("frame_lower", clip, clip.frame_name(frame),
                                     f"frame {frame} missing, using frame {k}")
                return src, k
            if self.config.strict:
                raise MediaError(f"frame {k} not found", clip.frame_name(k), clip.video_id,
                                 stage="frame")
        return None, None

    def _one_image(self, clip: Clip, frame: int) -> Optional[torch.Tensor]:
        src, k = self._frame_source(clip, frame)
        if src is None:
            self._substitute("image_missing", clip, clip.frame_name(0), "no frame exists")
            return None
        try:
            return load_image(src, self.config.im_res)
        except (OSError, ValueError) as err:
            if self.config.strict:
                raise MediaError(f"cannot decode frame: {err}", clip.frame_name(k),
                                 clip.video_id, stage="frame") from err
            self._substitute("image_missing", clip, clip.frame_name(k), f"cannot decode: {err}")
            return None

    def image(self, clip: Clip, plan: AugmentPlan, partner: Optional[Clip]) -> torch.Tensor:
        """The normalized ``[3, res, res]`` frame, mixed with the partner's for mixup."""
        first = self._one_image(clip, plan.frame)
        if first is None:
            return fallback_image(self.config.im_res)
        if partner is None:
            return first
        second = self._one_image(partner, plan.mix_frame if plan.mix_frame is not None
                                 else plan.frame)
        if second is None:
            return fallback_image(self.config.im_res)
        return mix_images(first, second, plan.mix_lambda)

    # label ----------------------------------------------------------------------------------
    def label(self, clip: Clip, plan: AugmentPlan, partner: Optional[Clip]) -> torch.Tensor:
        """The (smoothed, mixed) float32 label vector."""
        if partner is None:
            return label_vector(self.n_classes, self.label_indices(clip), self.config.label_smooth)
        return mixed_label_vector(self.n_classes, self.label_indices(clip),
                                  self.label_indices(partner), plan.mix_lambda,
                                  self.config.label_smooth)

    def parts(self, index: int, epoch: int, position: Optional[int] = None
              ) -> Tuple[Clip, AugmentPlan, Optional[Clip]]:
        """Sample ``index``'s clip, plan and mixup partner (or None); ``position``: where a
        sampler drew it in the epoch (see :class:`avprep.data.samplers.Draw`)."""
        if not 0 <= index < len(self.source):
            raise IndexError(f"index {index} out of range for {len(self.source)} samples")
        plan = self.plan(index, epoch, position)
        clip = self.source.clip(index)
        partner = self.source.clip(plan.mix_index) if plan.mix_index is not None else None
        return clip, plan, partner
