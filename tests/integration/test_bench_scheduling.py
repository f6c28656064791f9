"""bench.scheduling's scenario at a tiny scale: the fleet runs through the handlers to the
end, and its measures hold what the controller promises (docs/contract.md §8)."""

from __future__ import annotations

import os
from unittest import mock

from bench import scheduling


def test_the_contended_fleet_runs_to_the_end_within_its_budget() -> None:
    with mock.patch.dict(os.environ):  # the run sets the functions' environment
        result = scheduling.run(requests=9)
    checks = result["checks"]
    assert checks["finished_within_horizon"]
    assert checks["created"] == checks["settled_in_ledger"] == 9
    assert checks["error_count"] == checks["dead_letters"] == 0
    assert result["peak_instances_running"] <= scheduling.BUDGET
    assert result["priority_inversions"] == 0
    idle = result["slot_idle_seconds"]
    assert idle["count"] > 0
    assert idle["p50"] >= 0
    assert 0 < result["utilisation_percent"] <= 100
