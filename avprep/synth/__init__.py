"""Made-up data for tests, the demo and benchmarks: clips, data lists, a whole sample folder.

- :func:`make_clip` (:mod:`avprep.synth.clips`): a small audio-visual clip made with the ffmpeg
  binary that imageio-ffmpeg ships (:func:`ffmpeg_exe`), so nothing needs a system ffmpeg or a
  download; each audio channel carries its own tone, so channel 0 and a down-mix differ.
- :func:`synthetic_list`, :func:`random_ids` (:mod:`avprep.synth.lists`): data lists in the
  released format with YouTube-like ids and long-tailed labels drawn from a real label set.
- :func:`make_samples` (:mod:`avprep.synth.samples`): a download folder of clips named as real
  downloads are, with the released label CSV, lists and weights naming them (and clips nobody
  has); ``scripts/make_sample_clips.py`` is its command line, used by ``make demo``.

Names are imported on first use, so ``from avprep.synth import ffmpeg_exe`` stays light.
"""

from __future__ import annotations

from avprep.lazy import lazy_exports

_EXPORTS = {
    "ffmpeg_exe": "avprep.synth.clips", "make_clip": "avprep.synth.clips",
    "random_ids": "avprep.synth.lists", "synthetic_list": "avprep.synth.lists",
    "make_samples": "avprep.synth.samples", "DATASETS": "avprep.synth.samples",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
