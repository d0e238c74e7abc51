"""fbank_batch: every row equals the single-clip fbank (exactly on CPU, by SPEC 3 on CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avprep.errors import InputError
from avprep.features import fbank, fbank_batch, fbank_parity, load_wav, remove_mean
from helpers import REF

VIDS = ["00W1lcxW-WU_40.000", "KlsG1EnBEjc_000361", "Vp9OpusClip_20.000"]


def clips():
    """The three fixture wavs (mean removed) plus synthesized clips of awkward lengths."""
    out = [remove_mean(load_wav(REF / "audio" / f"{v}.wav")[0])[0] for v in VIDS]
    rng = np.random.default_rng(5)
    for n in (0, 399, 400, 401, 560, 16000 * 5 + 17, 16000 * 12):
        pcm = rng.integers(-2000, 2000, n).astype(np.float32) / 32768
        out.append(torch.from_numpy(pcm - pcm.mean() if n else pcm))
    out.append(torch.zeros(16000))
    return out


def padded_batch(signals):
    """``signals`` zero-padded into one ``[batch, samples]`` tensor, and their lengths."""
    lengths = [s.shape[0] for s in signals]
    padded = torch.zeros(len(signals), max(lengths))
    for i, s in enumerate(signals):
        padded[i, :s.shape[0]] = s
    return padded, lengths


def test_list_input_equals_single_clip():
    signals = clips()
    rows = fbank_batch(signals)
    assert len(rows) == len(signals)
    for signal, row in zip(signals, rows):
        single = fbank(signal)
        assert row.shape == single.shape
        assert torch.equal(row, single)


def test_padded_tensor_with_lengths():
    signals = clips()
    padded, lengths = padded_batch(signals)
    # garbage after each clip's end must not leak into its frames
    for i, n in enumerate(lengths):
        padded[i, n:] = 0.9
    rows = fbank_batch(padded, torch.tensor(lengths))
    for signal, row in zip(signals, rows):
        assert torch.equal(row, fbank(signal))


def test_max_frames_keeps_the_first_frames():
    signals = clips()[:3]
    rows = fbank_batch(signals, max_frames=100)
    for signal, row in zip(signals, rows):
        assert torch.equal(row, fbank(signal)[:100])


def test_channels_first_inputs_use_channel_zero():
    stereo = torch.stack([clips()[0], clips()[1][:clips()[0].shape[0]]])
    row = fbank_batch([stereo])[0]
    assert torch.equal(row, fbank(stereo))


def test_all_short_and_empty_batches():
    shapes = [r.shape for r in fbank_batch([torch.zeros(10), torch.zeros(399)])]
    assert shapes == [(0, 128), (0, 128)]
    assert fbank_batch([]) == []


def test_bad_lengths_refused():
    with pytest.raises(InputError, match="lengths"):
        fbank_batch(torch.zeros(2, 1000), [1000])
    with pytest.raises(InputError, match="lengths"):
        fbank_batch(torch.zeros(2, 1000), [1000, 1001])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_rows_match_cpu_by_parity_rule():
    signals = clips()
    rows = fbank_batch(signals, device="cuda")
    for signal, row in zip(signals, rows):
        assert row.device.type == "cuda"
        single = fbank(signal)
        assert row.shape == single.shape
        report = fbank_parity(row.cpu(), single)
        assert report.ok, report


def test_every_frame_count_up_to_forty_is_exact():
    g = torch.Generator().manual_seed(0)
    long = torch.rand(16000 * 3, generator=g) - 0.5
    signals = [long[:400 + 160 * (m - 1)] for m in range(1, 41)] + [long]
    rows = fbank_batch(signals)
    for m, (signal, row) in enumerate(zip(signals, rows), start=1):
        assert torch.equal(row, fbank(signal)), f"{m} frames"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_padded_batch_already_on_the_gpu():
    signals = clips()
    padded, lengths = padded_batch(signals)
    rows = fbank_batch(padded.cuda(), torch.tensor(lengths), max_frames=1024)
    for signal, row in zip(signals, rows):
        single = fbank(signal)[:1024]
        assert row.device.type == "cuda" and row.shape == single.shape
        report = fbank_parity(row.cpu(), single)
        assert report.ok, report
