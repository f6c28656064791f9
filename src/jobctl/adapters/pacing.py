"""Spending SageMaker's account-wide request rates as if they were scarce.

SageMaker limits each API per account and region, for every user of the account at
once (CreateTrainingJob about 1 call per second, ListTrainingJobs about 2); botocore's
adaptive retry mode slows one client only after it has been throttled. A ``Pacer``
spaces this container's calls so the deployment stays within its share before anyone is
throttled.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from jobctl.logic.ports import Clock


class Pacer:
    """At most ``per_second`` calls a second, on ``clock``: a call that would come too soon
    waits for its turn (0 or less: no pacing)."""

    def __init__(self, per_second: float, clock: Clock) -> None:
        self._interval = timedelta(seconds=1 / per_second) if per_second > 0 else None
        self._clock = clock
        self._next: datetime | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self._interval is None:
            return
        with self._lock:
            now = self._clock.now()
            if self._next is not None and now < self._next:
                self._clock.sleep((self._next - now).total_seconds())
                now = max(self._clock.now(), self._next)
            self._next = now + self._interval
