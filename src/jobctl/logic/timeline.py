"""A budget's room over time, from now on (docs/contract.md §8, reservations and
backfill): what the running jobs hold until they end at the latest, what a pass admits,
and what it reserves for jobs that must wait. Times are seconds from now; ``inf`` is no
known end."""

from __future__ import annotations

from math import inf


class Timeline:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._spans: list[tuple[float, float, int]] = []  # (start, end, units)

    def take(self, start: float, end: float, units: int) -> None:
        if units > 0:
            self._spans.append((start, end, units))

    def peak(self, start: float, end: float) -> int:
        """The most room taken at any moment in [start, end)."""
        changes = []
        taken = 0
        for span_start, span_end, units in self._spans:
            if span_end <= start or span_start >= end:
                continue
            if span_start <= start:
                taken += units
            else:
                changes.append((span_start, units))
            if span_end < end:
                changes.append((span_end, -units))
        peak = taken
        for _, units in sorted(changes, key=lambda change: (change[0], change[1])):
            taken += units
            peak = max(peak, taken)
        return peak

    def fits(self, start: float, length: float, units: int) -> bool:
        return self.peak(start, start + length) + units <= self.limit

    def ends(self) -> list[float]:
        """When room frees: the moments a span ends."""
        return [end for _, end, _ in self._spans if end != inf]


def earliest_start(timelines: list[tuple[Timeline, int]], length: float) -> float | None:
    """The first moment from now at which every timeline has ``units`` free for
    ``length`` seconds; None if none will (a running job with no known end, or a budget
    lowered below what the job needs)."""
    moments = sorted({0.0, *(end for timeline, _ in timelines for end in timeline.ends())})
    for moment in moments:
        if all(timeline.fits(moment, length, units) for timeline, units in timelines):
            return moment
    return None
