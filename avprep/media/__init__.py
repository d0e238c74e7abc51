"""Raw video -> the original CAV-MAE pipeline's 16 kHz mono wav and ten 224x224 JPEG frames.

- :func:`extract_clip` one clip, decoded once in process (:mod:`avprep.media.clip`)
- :func:`run_extract` a folder or list of clips: shards, workers, resume, failure log
  (:mod:`avprep.media.runner`), on a pluggable engine (:mod:`avprep.engines`)
- :mod:`avprep.media.probe` frame rate, frame count and the frame schedule, read as the original
  read them
- :mod:`avprep.media.decode` the one pass over a container (demux once, skip the frames nothing
  needs)
- :mod:`avprep.media.audio` and :mod:`avprep.media.frames`: the audio and frame conversions;
  other frame counts and sizes by a :class:`FrameSpec` (:mod:`avprep.framespec`), the geometry
  shared with the loader in :mod:`avprep.media.geometry`
- :mod:`avprep.media.keep` the trimmed 10-s mp4 (:class:`ClipKeep`), for on-the-fly decoders
- :mod:`avprep.media.reference` the original method rebuilt with its tools, for comparisons

Names are imported on first use, so ``import avprep.media`` stays light.
"""

from __future__ import annotations

from avprep.lazy import lazy_exports

_EXPORTS = {
    "ClipResult": "avprep.media.clip", "ClipTask": "avprep.media.clip",
    "extract_clip": "avprep.media.clip", "process_clip": "avprep.media.clip",
    "FailureLog": "avprep.media.log", "read_failures": "avprep.media.log",
    "Summary": "avprep.media.runner", "find_inputs": "avprep.media.runner",
    "run_extract": "avprep.media.runner",
    "FrameSpec": "avprep.framespec", "ClipKeep": "avprep.media.keep",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
