"""Telling a slow client from a starved process.

On a busy machine (the suite runs at ``nice -n 19`` beside other jobs) the whole process can
go without CPU for seconds; a call that overlaps such a pause may end past its deadline and a
second through no fault of its own. A watcher thread wakes every 50 ms and records each wake-up
that came late by more than a quarter second; a call over its bound is held against the client
only for the time it ran outside those pauses.
"""

from __future__ import annotations

import threading
import time
from typing import List, Tuple

_TICK = 0.05
_LATE = 0.25  # seconds late a wake-up must be to count as a pause


class Starvation:
    """``with Starvation() as pauses:`` the process's pauses, while it lasts."""

    def __init__(self) -> None:
        self._pauses: List[Tuple[float, float]] = []
        self._seen = time.monotonic()  # the watcher's last wake-up
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="campaign-clock", daemon=True)

    def __enter__(self) -> Starvation:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while True:
            before = time.monotonic()
            if self._stop.wait(_TICK):
                return
            after = time.monotonic()
            with self._lock:
                if after - before - _TICK > _LATE:
                    self._pauses.append((before + _TICK, after))
                self._seen = after

    def paused(self, start: float, end: float) -> float:
        """Seconds of pause between ``start`` and ``end`` (time.monotonic() values), once the
        watcher has woken after ``end`` (a pause in progress is not known before), or a
        second has passed."""
        give_up = time.monotonic() + 1.0
        while time.monotonic() < give_up:
            with self._lock:
                if self._seen >= end:
                    break
            time.sleep(_TICK / 5)
        with self._lock:
            pauses = list(self._pauses)
        return sum(max(0.0, min(end, stop) - max(start, begin)) for begin, stop in pauses)
