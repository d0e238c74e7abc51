"""``avprep download``: the listed 10-second clips from YouTube, paced, resumable, accounted for.

- :func:`download` the run (:mod:`.run`): plan, resume, workers, pace, log, summary
- :mod:`.segments` where each clip lies (AudioSet segment CSVs, VGGSound ids and csv, LIST files)
- :mod:`.source` yt-dlp as a library: formats and URLs of one video, ffmpeg found in each worker
- :mod:`.cut` ffmpeg cuts the segment from those URLs (``exact`` or ``keyframe``);
  :mod:`.smartcut` the exact cut that re-encodes only up to the first keyframe
- :mod:`.outcomes` unavailable / rate-limited / transient, from yt-dlp's and ffmpeg's errors
- :mod:`.pacing` the hourly cap, per-worker pauses, the global back-off on rate limits
- :mod:`.log` the JSON-lines log; :func:`read_download_log` gives each id's state
"""

from avprep.download.log import read_download_log
from avprep.download.run import DownloadSummary, download
from avprep.download.segments import Segment

__all__ = ["DownloadSummary", "Segment", "download", "read_download_log"]
