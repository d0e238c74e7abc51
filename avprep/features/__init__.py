"""Audio features exactly as CAV-MAE's loader computes them.

- :func:`load_wav`: a wav file as ``torchaudio.load`` returns it (float32 ``[channels, samples]``).
- :func:`fbank`: Kaldi log mel filterbank ``[frames, 128]`` of one clip, equal to torchaudio's.
- :func:`fbank_batch`: the same for many clips in one pass, on CPU or CUDA.
- :func:`centred_fbank`: remove the mean, then fbank: the original's un-padded, un-normalized
  fbank of a waveform; :func:`wav_fbank` the same of a wav file.
- :func:`pad_or_cut`, :func:`normalize`: what the loader does next (1024 frames, mean -5.081,
  std 4.4849).
- :func:`fbank_parity`: the SPEC 3 rule for "the same fbank".
"""

from avprep.constants import NORM_MEAN, NORM_STD, NUM_MEL_BINS, TARGET_LENGTH
from avprep.features.kaldi import fbank, fbank_batch, frame_sizes, num_frames
from avprep.features.normalize import (centred_fbank, denormalize, normalize, pad_or_cut,
                                       remove_mean, wav_fbank)
from avprep.features.parity import FbankParity, fbank_parity
from avprep.features.wav import load_wav, pcm16_to_float
from avprep.media.audio import read_pcm16

__all__ = [
    "NUM_MEL_BINS", "NORM_MEAN", "NORM_STD", "TARGET_LENGTH",
    "load_wav", "read_pcm16", "pcm16_to_float",
    "fbank", "fbank_batch", "frame_sizes", "num_frames",
    "centred_fbank", "wav_fbank", "remove_mean", "pad_or_cut", "normalize", "denormalize",
    "FbankParity", "fbank_parity",
]
