"""Raw video -> the original CAV-MAE pipeline's 16 kHz mono wav and ten 224x224 JPEG frames.

- :func:`extract_clip` one clip, decoded once in process (:mod:`avprep.media.clip`)
- :func:`run_extract` a folder or list of clips: shards, workers, resume, failure log
  (:mod:`avprep.media.runner`), on a pluggable engine (:mod:`avprep.media.engines`)
- :mod:`avprep.media.probe` frame rate, frame count and the frame schedule, as the original read them
- :mod:`avprep.media.audio` and :mod:`avprep.media.frames`: the audio and frame conversions
"""

from avprep.media.clip import ClipResult, ClipTask, extract_clip, process_clip
from avprep.media.log import FailureLog, read_failures
from avprep.media.runner import Summary, find_inputs, run_extract

__all__ = ["ClipResult", "ClipTask", "extract_clip", "process_clip", "FailureLog",
           "read_failures", "Summary", "find_inputs", "run_extract"]
