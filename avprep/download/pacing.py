"""Pace: at most ``max_per_hour`` download starts an hour across all workers, a random pause
between one worker's downloads, and one pause for every worker when the site rate-limits.

A rate limit pauses the whole run for ``backoff`` seconds, doubling with each further rate limit
up to :data:`MAX_BACKOFF` (1 h); a clip downloaded resets it. After ``max_pauses`` pauses in a row
without a clip downloaded in between, :attr:`Pacer.stopped` is set: the run stops cleanly.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Optional

#: the longest pause after repeated rate limits (seconds)
MAX_BACKOFF = 3600.0
#: pauses in a row without progress after which a run stops
MAX_PAUSES = 6


class Pacer:
    """Shared by the workers of one run. ``clock`` and ``sleep`` are replaceable for tests of
    the arithmetic (the run itself uses real time)."""

    def __init__(self, max_per_hour: float, sleep: float = 0.0, backoff: float = 30.0,
                 max_pauses: int = MAX_PAUSES, seed: Optional[int] = None,
                 clock: Callable[[], float] = time.monotonic):
        if max_per_hour <= 0:
            raise ValueError("max_per_hour must be positive")
        self.interval = 3600.0 / max_per_hour
        self.sleep_mean = max(0.0, sleep)
        self.backoff = backoff
        self.max_pauses = max_pauses
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._next_slot = clock()
        self._paused_until = 0.0
        self._current_backoff = backoff
        self.pauses_without_progress = 0
        self.pauses = 0
        self.stopped = threading.Event()

    def worker_pause(self) -> float:
        """A random pause for one worker between its downloads: uniform in [0.5, 1.5] x sleep."""
        with self._lock:
            return self.sleep_mean * self._random.uniform(0.5, 1.5)

    def wait_turn(self) -> bool:
        """Block until this worker may start a download (within the hourly cap and after any
        pause); False when the run has stopped."""
        with self._lock:
            while True:
                if self.stopped.is_set():
                    return False
                now = self._clock()
                if now < self._paused_until:
                    self._wake.wait(min(self._paused_until - now, 1.0))
                    continue
                slot = max(self._next_slot, now)
                if slot <= now:
                    self._next_slot = now + self.interval
                    return True
                self._wake.wait(min(slot - now, 1.0))

    def rate_limited(self) -> float:
        """Record a rate limit: pause every worker (unless a pause is already on); return how
        long the pause lasts from now."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return self._paused_until - now
            pause = self._current_backoff
            self._current_backoff = min(self._current_backoff * 2, MAX_BACKOFF)
            self._paused_until = now + pause
            self.pauses += 1
            self.pauses_without_progress += 1
            if self.pauses_without_progress >= self.max_pauses:
                self.stopped.set()
            self._wake.notify_all()
            return pause

    def progressed(self) -> None:
        """A clip was downloaded: the back-off starts again from ``backoff``."""
        with self._lock:
            self._current_backoff = self.backoff
            self.pauses_without_progress = 0

    @property
    def next_backoff(self) -> float:
        """The pause the next rate limit would bring (when to try again after a stop)."""
        with self._lock:
            return self._current_backoff

    def stop(self) -> None:
        """Stop the run: every waiting worker returns."""
        with self._lock:
            self.stopped.set()
            self._wake.notify_all()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the run stops first; False when it stopped."""
        return not self.stopped.wait(max(0.0, seconds))
