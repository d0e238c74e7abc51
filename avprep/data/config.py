"""What the loader does, as a typed config; ``from_audio_conf`` reads the original's ``audio_conf``.

Keys the original reads and their defaults here (the original has no usable default for several of
them and crashes or silently substitutes without them; the defaults below are the published values):
num_mel_bins 128, target_length 1024, freqm 0, timem 0, mixup 0.0, dataset 'audioset', mode 'train',
mean -5.081, std 4.4849, noise False, label_smooth 0.0, im_res 224, frame_use -1, total_frame
(the frames the data records having, ten without a record), skip_norm False. avprep adds: strict
True, seed None, batch_fbank False, use_stored_fbank True, audio_window None.

As in the original, ``mode`` only chooses the frame (eval: ``frame_use``, or the middle frame when
it is -1; anything else: a random frame); the augmentations are on whenever their settings are.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from avprep.constants import IMAGE_RES, N_FRAMES, NORM_MEAN, NORM_STD, NUM_MEL_BINS, TARGET_LENGTH
from avprep.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AVConfig:
    """Settings of ``AVDataset`` and ``AudiosetDataset``.

    ``strict``: a missing or unreadable wav or frame raises ``MediaError`` naming the id and the
    file; with ``strict=False`` the original's substitutes are used instead (constant fbank,
    a lower frame, constant image), each one counted in ``dataset.substitutions`` and logged.
    ``seed``: with an int, every random choice of sample i in epoch e depends only on
    (seed, e, i), or for a balanced sampler's draw (a ``Draw``) also on its position in the epoch's
    draw, so that repeats of a clip differ; results do not depend on the number of workers (nor
    of processes). With None they come from the
    process's random state, as in the original. ``batch_fbank``: return waveforms and compute the
    fbank per batch (``avprep.data.BatchFbank``), e.g. on the GPU. ``use_stored_fbank``: read a
    pack's stored fbank when the sample is not mixed. ``total_frame`` None: as many frames as the
    data records (:attr:`avprep.data.AVDataset.frames`). ``audio_window``: return, instead of the
    whole ``target_length`` fbank, the ``audio_window`` rows centred on the chosen frame's time
    (:func:`avprep.data.window.frame_window`, CAV-MAE Sync's rule; e.g. 416 rows, about 4 s).
    """

    num_mel_bins: int = NUM_MEL_BINS
    target_length: int = TARGET_LENGTH
    freqm: int = 0
    timem: int = 0
    mixup: float = 0.0
    dataset: str = "audioset"
    mode: str = "train"
    mean: float = NORM_MEAN
    std: float = NORM_STD
    noise: bool = False
    label_smooth: float = 0.0
    im_res: int = IMAGE_RES
    frame_use: int = -1
    total_frame: Optional[int] = None
    skip_norm: bool = False
    strict: bool = True
    seed: Optional[int] = None
    batch_fbank: bool = False
    use_stored_fbank: bool = True
    audio_window: Optional[int] = None

    def __post_init__(self) -> None:
        if self.num_mel_bins <= 0 or self.target_length <= 0 or self.im_res <= 0:
            raise InputError("num_mel_bins, target_length and im_res must be positive")
        if not 0 <= self.mixup <= 1:
            raise InputError(f"mixup is a probability in [0, 1], got {self.mixup}")
        if not 0 <= self.label_smooth < 1:
            raise InputError(f"label_smooth must be in [0, 1), got {self.label_smooth}")
        if self.freqm < 0 or self.timem < 0:
            raise InputError("freqm and timem must not be negative")
        if not self.skip_norm and self.std == 0:
            raise InputError("std must not be 0 (set skip_norm to skip normalization)")
        if self.total_frame is not None and self.total_frame < 1:
            raise InputError(f"total_frame must be 1 or more, got {self.total_frame}")
        if self.frame_use < -1 or (self.total_frame is not None
                                   and self.frame_use >= self.total_frame):
            raise InputError(f"frame_use must be -1 or a frame index below {self.frame_count}")
        if self.audio_window is not None and not 1 <= self.audio_window <= self.target_length:
            raise InputError(f"audio_window must be 1..target_length ({self.target_length}) "
                             f"fbank frames, got {self.audio_window}")

    @property
    def frame_count(self) -> int:
        """Frames per clip to draw from: ``total_frame``, or ten when it is not resolved yet."""
        return self.total_frame if self.total_frame is not None else N_FRAMES

    @property
    def fbank_rows(self) -> int:
        """Rows of the fbank a sample carries: ``audio_window`` when set, else ``target_length``."""
        return self.audio_window if self.audio_window is not None else self.target_length

    @property
    def eval_frame(self) -> Optional[int]:
        """The frame used for every sample, or None when each sample draws one."""
        if self.mode != "eval":
            return None
        return self.frame_count // 2 if self.frame_use == -1 else self.frame_use

    def replace(self, **changes: Any) -> "AVConfig":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_audio_conf(cls, audio_conf: Optional[Mapping[str, Any]]) -> "AVConfig":
        """The config for an original-style ``audio_conf`` dict (unknown keys: logged, ignored)."""
        conf = dict(audio_conf or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(conf) - names)
        if unknown:
            logger.warning("audio_conf keys not used by avprep: %s", ", ".join(unknown))
        values = {k: v for k, v in conf.items() if v is not None and k in names}
        for key in ("noise", "skip_norm", "strict", "batch_fbank", "use_stored_fbank"):
            if key in values:
                values[key] = bool(values[key])
        return cls(**values)
