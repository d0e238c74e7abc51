"""The audio that goes with one frame: a window of fbank rows centred on the frame's time.

CAV-MAE Sync pairs each of a clip's frames with a short stretch of its spectrogram. Its rule
(``map_frame_to_spectrogram`` in its loader), followed here exactly: the fbank is first padded or
cut to its full length (``target_length``, 1024 rows of 10 ms), frame ``i`` of ``n`` sits at row
``int(round(i * length / n))`` (Python's ``round``, halves to even), the window starts
``window // 2`` rows before that, at 0 at the earliest, and when it would run past the end it is
moved back to end at ``length`` (starting at ``max(0, length - window)``). So every window has
``window`` rows (``length`` when the window is longer) and lies inside the padded fbank: the first
frames' windows are clamped at the start of the clip and the last frames' at its end. With 16
frames and 1024 rows each frame is 64 rows (0.64 s) further on; a 416-row window covers 4.16 s.
"""

from __future__ import annotations

from typing import Tuple


def frame_window(frame: int, frames: int, length: int, window: int) -> Tuple[int, int]:
    """``(start, end)`` rows of the ``window``-row fbank slice for frame ``frame`` of ``frames``
    in an fbank of ``length`` rows (end exclusive), by CAV-MAE Sync's rule (module notes)."""
    if frames < 1 or length < 1 or window < 1:
        raise ValueError(f"frames, length and window must be positive, got {frames}, {length}, "
                         f"{window}")
    centre = int(round(frame * length / frames))
    start = max(0, centre - window // 2)
    end = start + window
    if end > length:
        end = length
        start = max(0, end - window)
    return start, end
