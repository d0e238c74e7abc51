"""The facts about CAV-MAE's inputs and models that several stages use, in one place.

Plain values only, importing nothing, so that any module (and ``avprep --help``) can read them
without loading torch or NumPy.
"""

from __future__ import annotations

from typing import Any, Dict

#: frames extracted per clip (``frame_0`` .. ``frame_9``)
N_FRAMES = 10
#: seconds one clip's extraction may run before its worker is stopped (0 or None: no limit)
DEFAULT_CLIP_TIMEOUT = 600.0
#: sample rate of the extracted audio (one channel, 16-bit PCM)
SAMPLE_RATE = 16000
#: the published fbank normalization statistics, the same for AudioSet and VGGSound:
#: the loader feeds ``(fbank - NORM_MEAN) / NORM_STD``
NORM_MEAN = -5.081
NORM_STD = 4.4849
#: fbank frames per clip after padding or cutting (10.24 s)
TARGET_LENGTH = 1024
#: mel bins of the Kaldi fbank
NUM_MEL_BINS = 128
#: side of the square image the visual branch sees
IMAGE_RES = 224

#: which inputs a fine-tuned model sees (``--ftmode``)
FT_MODES = ("multimodal", "audioonly", "videoonly", "missingaudioonly", "missingvideoonly")
#: the modalities a fine-tuned model's features can be taken from (``forward_feat``)
FEAT_MODES = ("av", "a", "v")
#: how the pretraining model masks audio tokens (``--mask_mode``)
MASK_MODES = ("unstructured", "time", "freq", "tf")

#: model sizes by name. ``base`` is the released ViT-Base configuration. ``tiny`` (tests,
#: demos) keeps every layer type with embed 32, 2 heads, 1 modality-specific block per modality,
#: 1 shared block, and a 2-block decoder 32 wide with 2 heads.
SIZES: Dict[str, Dict[str, Any]] = {
    "base": dict(embed_dim=768, num_heads=12, modality_specific_depth=11, shared_depth=None,
                 decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16),
    "tiny": dict(embed_dim=32, num_heads=2, modality_specific_depth=1, shared_depth=1,
                 decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=2),
}
#: the size names ``--model-size`` takes, smallest first (as its help lists them)
MODEL_SIZES = tuple(sorted(SIZES, key=lambda name: SIZES[name]["embed_dim"]))
