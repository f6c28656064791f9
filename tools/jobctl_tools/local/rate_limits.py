"""Account-wide API rate limits for the simulated AWS services, on the simulator's clock.

AWS limits each API per account and region, for every client of the account at once:
one token bucket per operation, shared by all of them, answers at once whether a call
may pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: float


class TokenBucket:
    """An account's request budget for one operation, on the simulator's clock.

    botocore has a token bucket (``botocore.retries.bucket``), but it is a client's: it
    starts empty and waits on the wall clock. A service's bucket starts full, lives on
    the simulator's clock, and answers at once whether a call may pass.
    """

    def __init__(self, limit: RateLimit, now: datetime) -> None:
        self.limit = limit
        self._tokens = limit.burst
        self._at = now

    def take(self, now: datetime) -> bool:
        elapsed = max(0.0, (now - self._at).total_seconds())
        self._tokens = min(self.limit.burst, self._tokens + elapsed * self.limit.per_second)
        self._at = max(self._at, now)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class AccountRateLimits:
    """One bucket per operation (``limits``, else ``default``); ``limits=None`` lets every
    call pass. ``throttled`` counts the calls refused, by operation."""

    def __init__(self, limits: dict[str, RateLimit] | None, default: RateLimit) -> None:
        self.limits = limits
        self.default = default
        self.throttled: Counter[str] = Counter()
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, operation: str, now: datetime) -> bool:
        if self.limits is None:
            return True
        bucket = self._buckets.get(operation)
        if bucket is None:
            limit = self.limits.get(operation, self.default)
            bucket = self._buckets[operation] = TokenBucket(limit, now)
        if bucket.take(now):
            return True
        self.throttled[operation] += 1
        return False
