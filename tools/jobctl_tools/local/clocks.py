"""Simulated time for the simulated SageMaker and the controller beside it.

SageMaker's rate limits and a job's hours of training are both about time. Giving the
simulator and the controller one clock that is not the wall clock lets tests run in
milliseconds and a soak run twenty times faster, while every rate limit still holds in
the time both of them see.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class ManualClock:
    """Time that moves only when told to, or when someone sleeps on it (tests, benchmarks).

    A sleep returns at once, having moved the clock: a function that paces its calls
    spends no wall time, and the simulator still sees the calls paced.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime.now(UTC)
        self._now = self.start
        self._lock = threading.Lock()
        self.slept = 0.0  # seconds spent sleeping (pacing), in all

    def now(self) -> datetime:
        return self._now

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return (self._now - self.start).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.slept += max(0.0, seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, seconds))
            return self._now

    def set(self, moment: datetime | float) -> None:
        """Move to ``moment`` (or that many seconds after the start), unless a sleep (a
        paced call) already took the clock past it: time never runs backwards."""
        if not isinstance(moment, datetime):
            moment = self.start + timedelta(seconds=moment)
        with self._lock:
            self._now = max(self._now, moment)


class ScaledClock:
    """Wall time, ``speed`` times faster (the local stack's soak runs at 20x)."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._started = time.monotonic()
        self.slept = 0.0  # simulated seconds spent sleeping (pacing), on every thread
        self._lock = threading.Lock()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._started) * self.speed
        return self._start + timedelta(seconds=elapsed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.slept += seconds
            time.sleep(seconds / self.speed)
