"""The Kaldi log mel filterbank CAV-MAE is trained on, for one clip or a batch of clips.

:func:`fbank` equals ``torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True,
sample_frequency=sample_rate, use_energy=False, window_type='hanning', num_mel_bins=128,
dither=0.0, frame_shift=10)``: 25 ms frames every 10 ms that fit entirely in the signal (edges
snipped), each frame's mean removed, pre-emphasis 0.97, a symmetric Hann window, zero-padded to a
power of two (512 at 16 kHz), power spectrum, 128 triangular mel filters (torchaudio's own filter
matrix), natural log floored at float32's epsilon.

Near-silent bins sit at log(epsilon) ~ -15.9, where the last bit of every intermediate matters, so
each step uses the same torch operation on the same dtype in the same order as torchaudio; on a
CPU the result is identical to torchaudio's. The filter matrix and window are built once per
(sample rate, device, dtype) instead of on every call, which is where the speed-up comes from.

Clips shorter than one window (400 samples at 16 kHz) have no complete frame: avprep returns a
``[0, 128]`` tensor, where torchaudio raises an ``AssertionError`` (and the original loader, which
catches it, substitutes 512 rows of 0.01).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator, List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from avprep.constants import NUM_MEL_BINS
from avprep.errors import InputError

FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
MS = 0.001
EPSILON = torch.finfo(torch.float32).eps
SMALL_CLIP_FRAMES = 32
PASS_FRAMES_CPU = 1024
PASS_FRAMES_CUDA = 1 << 18

Device = Union[str, torch.device, None]


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the body with ``count`` torch CPU threads, then restore the previous number.

    Per-clip fbanks are small: one thread each is fastest, and extra threads only contend with
    the other worker processes (and lose badly on a busy machine).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def frame_sizes(sample_rate: float) -> Tuple[int, int, int]:
    """(window shift, window size, FFT size) in samples at ``sample_rate``, as Kaldi rounds them."""
    shift = int(sample_rate * FRAME_SHIFT_MS * MS)
    size = int(sample_rate * FRAME_LENGTH_MS * MS)
    padded = 1 if size == 0 else 2 ** (size - 1).bit_length()
    if size < 2 or shift < 1:
        raise InputError(f"sample rate {sample_rate} Hz is too low for 25 ms frames")
    return shift, size, padded


def num_frames(num_samples: int, sample_rate: float = 16000) -> int:
    """How many frames :func:`fbank` returns for ``num_samples`` samples (0 below one window)."""
    shift, size, _ = frame_sizes(sample_rate)
    return 0 if num_samples < size else 1 + (num_samples - size) // shift


@functools.lru_cache(maxsize=16)
def _constants(sample_rate: float, device: torch.device, dtype: torch.dtype
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The Hann window ``[size]`` and the mel filters ``[bins, fft/2 + 1]`` (last column zero)."""
    from torchaudio.compliance.kaldi import get_mel_banks

    _, size, padded = frame_sizes(sample_rate)
    window = torch.hann_window(size, periodic=False, device=device, dtype=dtype)
    banks, _ = get_mel_banks(NUM_MEL_BINS, padded, sample_rate, LOW_FREQ, 0.0, 100.0, -500.0, 1.0)
    banks = F.pad(banks.to(device=device, dtype=dtype), (0, 1), mode="constant", value=0)
    return window, banks


def _check(waveform: torch.Tensor, sample_rate: float) -> torch.Tensor:
    if not isinstance(waveform, torch.Tensor):
        raise InputError(f"waveform must be a torch tensor, got {type(waveform).__name__}")
    if not waveform.is_floating_point():
        raise InputError(f"waveform must be floating point, got {waveform.dtype}")
    if waveform.dim() == 2:
        if waveform.shape[0] < 1:
            raise InputError("waveform has no channels")
        waveform = waveform[0]
    elif waveform.dim() != 1:
        raise InputError("waveform must be [samples] or [channels, samples], "
                         f"got {tuple(waveform.shape)}")
    if sample_rate <= 0:
        raise InputError(f"sample rate must be positive, got {sample_rate}")
    return waveform


def _log_mel(frames: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Log mel energies of ``frames [..., m, size]`` (raw samples), in torchaudio's order."""
    _, size, padded = frame_sizes(sample_rate)
    window, banks = _constants(float(sample_rate), frames.device, frames.dtype)
    frames = frames - torch.mean(frames, dim=-1).unsqueeze(-1)
    previous = torch.cat((frames[..., :1], frames[..., :-1]), dim=-1)
    frames = frames - PREEMPHASIS * previous
    frames = frames * window
    if padded != size:
        frames = F.pad(frames, (0, padded - size), mode="constant", value=0)
    power = torch.fft.rfft(frames).abs().pow(2.0)
    mel = torch.matmul(power, banks.T)
    return torch.max(mel, torch.tensor(EPSILON, device=mel.device, dtype=mel.dtype)).log()


def fbank(waveform: torch.Tensor, sample_rate: float = 16000) -> torch.Tensor:
    """Kaldi log mel filterbank ``[frames, 128]`` of channel 0 of ``waveform``.

    ``waveform`` is ``[samples]`` or ``[channels, samples]`` (only channel 0 is used, as in
    torchaudio), floating point, with its mean already removed if the caller wants the original
    loader's features. The result has the waveform's dtype and device; ``[0, 128]`` when the clip is
    shorter than one 25 ms window.
    """
    signal = _check(waveform, sample_rate)
    shift, size, _ = frame_sizes(sample_rate)
    count = num_frames(signal.shape[0], sample_rate)
    if count == 0:
        return torch.zeros((0, NUM_MEL_BINS), dtype=signal.dtype, device=signal.device)
    with torch.no_grad():
        stride = signal.stride(0)
        frames = signal.as_strided((count, size), (shift * stride, stride))
        return _log_mel(frames, sample_rate)


def fbank_batch(waveforms: Union[torch.Tensor, Sequence[torch.Tensor]],
                lengths: Union[torch.Tensor, Sequence[int], None] = None,
                device: Device = None, sample_rate: float = 16000,
                max_frames: Union[int, None] = None) -> List[torch.Tensor]:
    """Fbank of many clips at once: a list with one ``[frames_i, 128]`` tensor per clip.

    ``waveforms`` is a padded ``[batch, samples]`` tensor with the true ``lengths`` of each row, or
    a sequence of ``[samples]`` / ``[channels, samples]`` tensors (channel 0 used, ``lengths``
    optional). The work runs on ``device`` (default: the waveforms' device; ``'cuda'`` moves it
    to the GPU), where clips are framed together and transformed in large FFTs and matrix
    products, up to 262144 frames per pass. On a CPU, passes hold about 1024 frames (one 10 s
    clip), which keeps them in cache: there a batch costs what per-clip calls cost. Each result
    equals :func:`fbank` of that clip alone (exactly on CPU; on CUDA within the SPEC 3 parity
    rule, since cuFFT and cuBLAS sum in another order). ``max_frames`` keeps only the first
    frames of each clip (e.g. the target length 1024), which saves work on long clips.
    """
    signals = _signals(waveforms, lengths)
    if device is not None:
        target = torch.device(device)
    else:
        target = signals[0].device if signals else torch.device("cpu")
    dtype = signals[0].dtype if signals else torch.float32
    shift, size, _ = frame_sizes(sample_rate)
    counts = [num_frames(s.shape[0], sample_rate) for s in signals]
    if max_frames is not None:
        counts = [min(c, int(max_frames)) for c in counts]
    rows: List[torch.Tensor] = [torch.zeros((0, NUM_MEL_BINS), dtype=dtype, device=target)
                                for _ in counts]
    # Matrix libraries take another code path (another summation order) for products with very
    # few rows, so clips of a handful of frames are computed alone, exactly as fbank() does.
    limit = PASS_FRAMES_CUDA if target.type == "cuda" else PASS_FRAMES_CPU
    small = [i for i, c in enumerate(counts) if 0 < c < SMALL_CLIP_FRAMES]
    large = [i for i, c in enumerate(counts) if c >= SMALL_CLIP_FRAMES]
    groups = [[i] for i in small] + _passes(large, counts, limit)
    with torch.no_grad():
        for group in groups:
            needed = [(counts[i] - 1) * shift + size for i in group]
            if len(group) == 1:
                i = group[0]
                rows[i] = fbank(signals[i][:needed[0]].to(target), sample_rate)
                continue
            width = max(needed)
            sub = torch.zeros((len(group), width), dtype=dtype, device=signals[group[0]].device)
            for j, (i, n) in enumerate(zip(group, needed)):
                sub[j, :n] = signals[i][:n]
            sub = sub.to(target)
            most = max(counts[i] for i in group)
            frames = sub.as_strided((len(group), most, size), (width, shift, 1))
            mel = _log_mel(frames, sample_rate)
            for j, i in enumerate(group):
                rows[i] = mel[j, :counts[i]].clone()
    return rows


def _passes(clips: List[int], counts: List[int], limit: int) -> List[List[int]]:
    """Split clips into groups whose padded size (clips x longest) stays within ``limit`` frames."""
    groups: List[List[int]] = []
    current: List[int] = []
    longest = 0
    for i in clips:
        grown = max(longest, counts[i])
        if current and grown * (len(current) + 1) > limit:
            groups.append(current)
            current, grown = [], counts[i]
        current.append(i)
        longest = grown
    if current:
        groups.append(current)
    return groups


def _signals(waveforms, lengths) -> List[torch.Tensor]:
    """The clips as 1-D views, each cut to its length."""
    if isinstance(waveforms, torch.Tensor):
        if waveforms.dim() != 2:
            raise InputError("a padded batch must be [batch, samples], "
                             f"got {tuple(waveforms.shape)}")
        if not waveforms.is_floating_point():
            raise InputError(f"waveforms must be floating point, got {waveforms.dtype}")
        lens = [waveforms.shape[1]] * waveforms.shape[0] if lengths is None else _int_list(lengths)
        if len(lens) != waveforms.shape[0]:
            raise InputError(f"{len(lens)} lengths for a batch of {waveforms.shape[0]} clips")
        if any(n < 0 or n > waveforms.shape[1] for n in lens):
            raise InputError(f"lengths must lie in [0, {waveforms.shape[1]}]")
        return [waveforms[i, :n] for i, n in enumerate(lens)]
    signals = [_check(w, 1) for w in waveforms]
    if lengths is not None:
        given = _int_list(lengths)
        if len(given) != len(signals) or any(g < 0 or g > s.shape[0]
                                             for g, s in zip(given, signals)):
            raise InputError("lengths must give one length per clip, each within the clip")
        signals = [s[:g] for s, g in zip(signals, given)]
    if len({s.dtype for s in signals}) > 1:
        raise InputError("all waveforms of a batch must have the same dtype")
    return signals


def _int_list(values) -> List[int]:
    return [int(n) for n in (values.tolist() if isinstance(values, torch.Tensor) else values)]
