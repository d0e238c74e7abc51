"""avprep.features.fbank equals torchaudio's Kaldi fbank; the loader's pad/cut/normalize match ref/.

Tolerances: against torchaudio on this machine the difference is exactly 0 (same operations in the
same order); against the reference arrays made on another machine, the SPEC 3 parity rule
(normalized units: <= 2e-3 where log-mel > -10, <= 5e-2 anywhere, mean <= 1e-4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi

from avprep.features import (NORM_MEAN, NORM_STD, TARGET_LENGTH, fbank, fbank_parity, load_wav,
                             normalize, num_frames, pad_or_cut, remove_mean, wav_fbank)
from helpers import REF
from helpers.media import write_wav

VIDS = ["00W1lcxW-WU_40.000", "KlsG1EnBEjc_000361", "Vp9OpusClip_20.000"]


def torchaudio_fbank(waveform, rate=16000):
    return kaldi.fbank(waveform, htk_compat=True, sample_frequency=rate, use_energy=False,
                       window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)


def quantized(x: np.ndarray) -> torch.Tensor:
    """A float signal as it comes back from a 16-bit wav: int16 / 32768, [1, N]."""
    pcm = np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)
    return torch.from_numpy(pcm[None].astype(np.float32) / np.float32(32768))


@pytest.mark.parametrize("vid", VIDS)
def test_fixture_audio_matches_reference_arrays(vid):
    raw = np.load(REF / "arrays" / f"{vid}.fbank_raw.npy")
    ref_norm = np.load(REF / "arrays" / f"{vid}.fbank.npy")
    fb = wav_fbank(REF / "audio" / f"{vid}.wav")
    ours_raw = pad_or_cut(fb, TARGET_LENGTH)
    assert ours_raw.shape == raw.shape == (1024, 128)
    report = fbank_parity(ours_raw, raw)
    assert report.ok, report
    ours_norm = normalize(ours_raw)
    assert np.abs(ours_norm.numpy() - ref_norm).mean() <= 1e-4
    assert fbank_parity(ours_norm * NORM_STD, ref_norm * NORM_STD).ok


@pytest.mark.parametrize("vid", VIDS)
def test_fixture_audio_equals_torchaudio_exactly(vid):
    wav, rate = load_wav(REF / "audio" / f"{vid}.wav")
    wav = wav - wav.mean()
    ours = fbank(wav, rate)
    theirs = torchaudio_fbank(wav, rate)
    assert ours.dtype == torch.float32 and ours.shape == theirs.shape
    assert ours.shape[0] == num_frames(wav.shape[1]) > 990
    assert torch.equal(ours, theirs)


def synthesized():
    rng = np.random.default_rng(7)
    t5 = np.arange(5 * 16000) / 16000
    t20 = np.arange(20 * 16000) / 16000
    return {
        "silence": np.zeros(16000 * 2),
        "dc_offset_silence": np.full(16000 * 2, 0.25),
        "clipped_sine": np.clip(3.0 * np.sin(2 * math.pi * 440 * t5), -1, 1),
        "tone_and_noise_5s": (0.3 * np.sin(2 * math.pi * 1000 * t5)
                              + 0.01 * rng.standard_normal(t5.size)),
        "chirp_20s": 0.5 * np.sin(2 * math.pi * (100 + 200 * t20) * t20),
        "tiny_noise": 1 / 32768 * rng.integers(-1, 2, size=16000),
    }


@pytest.mark.parametrize("name", list(synthesized()))
@pytest.mark.parametrize("mean_removed", [True, False])
def test_synthesized_signals_equal_torchaudio(name, mean_removed):
    wav = quantized(synthesized()[name])
    if mean_removed:
        wav = remove_mean(wav)
    ours = fbank(wav)
    theirs = torchaudio_fbank(wav)
    assert ours.shape == theirs.shape == (num_frames(wav.shape[1]), 128)
    assert torch.equal(ours, theirs)
    assert fbank_parity(ours, theirs).ok


def test_silence_is_log_epsilon():
    ours = fbank(torch.zeros(1, 16000))
    assert torch.all(ours == math.log(torch.finfo(torch.float32).eps))
    assert ours.shape == (98, 128)


def test_dc_offset_is_removed_per_frame():
    # A constant signal has zero energy once each frame's mean is removed.
    ours = fbank(torch.full((1, 4000), 0.25))
    assert float(ours.max()) < -15.0


@pytest.mark.parametrize("length,frames", [(0, 0), (1, 0), (399, 0), (400, 1), (559, 1), (560, 2),
                                           (16000, 98), (160400, 1001)])
def test_frame_count_and_short_clips(length, frames):
    wav = quantized(np.random.default_rng(length).uniform(-0.5, 0.5, length))
    ours = fbank(wav)
    assert ours.shape == (frames, 128) and ours.dtype == torch.float32
    if length >= 400:
        assert torch.equal(ours, torchaudio_fbank(wav))
    else:
        # torchaudio refuses clips shorter than one window; avprep returns zero frames, which
        # pad_or_cut turns into an all-zero (normalized: 1.13291) input.
        with pytest.raises(AssertionError):
            torchaudio_fbank(wav)
        padded = normalize(pad_or_cut(ours, TARGET_LENGTH))
        assert padded.shape == (1024, 128)
        assert torch.allclose(padded, torch.full((1024, 128), -NORM_MEAN / NORM_STD))


def test_stereo_uses_channel_zero_and_all_channel_mean(tmp_path):
    rng = np.random.default_rng(3)
    left = rng.integers(-3000, 3000, 32000, dtype=np.int16)
    right = (rng.integers(-3000, 3000, 32000) + 9000).astype(np.int16)
    path = tmp_path / "st.wav"
    write_wav(path, np.stack([left, right]))
    wav, rate = load_wav(path)
    centred = wav - wav.mean()
    expected = torchaudio_fbank(centred, rate)
    ours = wav_fbank(path)
    assert torch.equal(ours, expected)
    assert abs(float(wav.mean()) - float(wav[0].mean())) > 0.1  # the two means really differ
    assert torch.equal(fbank(centred[0], rate), ours)


def test_other_sample_rate_and_float64():
    rng = np.random.default_rng(11)
    wav = torch.from_numpy(rng.uniform(-0.3, 0.3, (1, 22050 * 2)))
    ours = fbank(wav, 22050)
    theirs = torchaudio_fbank(wav, 22050)
    assert ours.dtype == torch.float64 and torch.equal(ours, theirs)


def test_pad_or_cut_and_normalize():
    fb = torch.arange(6 * 128, dtype=torch.float32).reshape(6, 128)
    padded = pad_or_cut(fb, 10)
    assert padded.shape == (10, 128) and torch.equal(padded[:6], fb)
    assert torch.count_nonzero(padded[6:]) == 0
    assert torch.equal(pad_or_cut(fb, 4), fb[:4])
    assert pad_or_cut(fb, 6) is fb
    norm = normalize(padded)
    assert torch.allclose(norm[9], torch.full((128,), 1.13291), atol=1e-5)
    assert torch.allclose(norm[0], (fb[0] + 5.081) / 4.4849)


def test_reference_padding_rows_match_ours():
    vid = VIDS[0]
    ref_norm = np.load(REF / "arrays" / f"{vid}.fbank.npy")
    ours = normalize(pad_or_cut(wav_fbank(REF / "audio" / f"{vid}.wav")))
    frames = num_frames(load_wav(REF / "audio" / f"{vid}.wav")[0].shape[1])
    assert np.array_equal(ours[frames:].numpy(), ref_norm[frames:])
    assert np.allclose(ref_norm[frames:], 1.1329126)


def test_rejects_integer_and_wrong_rank():
    from avprep.errors import InputError
    with pytest.raises(InputError, match="floating point"):
        fbank(torch.zeros(1, 1000, dtype=torch.int16))
    with pytest.raises(InputError, match="samples"):
        fbank(torch.zeros(1, 1, 1000))
