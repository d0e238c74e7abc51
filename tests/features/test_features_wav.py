"""load_wav gives torchaudio.load's values (int16 / 32768, float32, [channels, samples])."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import torch

from avprep.errors import MediaError
from avprep.features import load_wav, read_pcm16
from helpers import REF
from helpers.media import write_wav


def stdlib_samples(path) -> np.ndarray:
    with wave.open(str(path), "rb") as fh:
        raw = fh.readframes(fh.getnframes())
        return np.frombuffer(raw, "<i2").reshape(-1, fh.getnchannels()).T


@pytest.mark.parametrize("vid", ["00W1lcxW-WU_40.000", "KlsG1EnBEjc_000361", "Vp9OpusClip_20.000"])
def test_fixture_wav_is_int16_over_32768(vid):
    path = REF / "audio" / f"{vid}.wav"
    wav, rate = load_wav(path)
    pcm = stdlib_samples(path)
    assert rate == 16000
    assert wav.dtype == torch.float32 and wav.shape == (1, pcm.shape[1])
    assert torch.equal(wav, torch.from_numpy(pcm.astype(np.float32) / np.float32(32768)))
    ints, _ = read_pcm16(path)
    assert ints.dtype == np.int16 and np.array_equal(ints, pcm)


def test_stereo_keeps_channels_first(tmp_path):
    rng = np.random.default_rng(0)
    pcm = rng.integers(-32768, 32767, size=(2, 1234), dtype=np.int16)
    pcm[0, :2] = [-32768, 32767]
    path = tmp_path / "st.wav"
    write_wav(path, pcm, 44100)
    wav, rate = load_wav(path)
    assert rate == 44100 and wav.shape == (2, 1234)
    assert wav[0, 0].item() == -1.0 and wav[0, 1].item() == 32767 / 32768
    assert torch.equal(wav, torch.from_numpy(pcm).float() / 32768)


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(MediaError) as err:
        load_wav(path)
    assert str(path) in str(err.value) and "not found" in str(err.value)


def test_garbage_file_names_it(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00not really a wav file" * 3)
    with pytest.raises(MediaError) as err:
        load_wav(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_non_pcm16_refused_by_read_pcm16(tmp_path):
    import soundfile as sf
    path = tmp_path / "f.wav"
    sf.write(path, np.zeros(800, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(MediaError, match="16-bit PCM"):
        read_pcm16(path)
    wav, rate = load_wav(path)
    assert wav.shape == (1, 800) and rate == 16000


def test_flac_read_through_libsndfile(tmp_path):
    import soundfile as sf
    rng = np.random.default_rng(2)
    pcm = rng.integers(-32768, 32767, size=(3000, 1), dtype=np.int16)
    path = tmp_path / "a.flac"
    sf.write(path, pcm, 16000, subtype="PCM_16")
    wav, rate = load_wav(path)
    assert rate == 16000 and torch.equal(wav, torch.from_numpy(pcm.T.astype(np.float32) / 32768))
    ints, _ = read_pcm16(path)
    assert np.array_equal(ints, pcm.T)


def test_truncated_wav_names_the_file(tmp_path):
    path = tmp_path / "cut.wav"
    write_wav(path, np.zeros((2, 100), dtype=np.int16))
    data = path.read_bytes()
    path.write_bytes(data[:-1])  # half a sample frame at the end
    with pytest.raises(MediaError) as err:
        read_pcm16(path)
    assert str(path) in str(err.value)
