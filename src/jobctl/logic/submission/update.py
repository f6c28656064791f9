"""Changing a waiting job's priority (docs/contract.md §8): ``{"action": "update",
"priority": N}``. Only a job still in the waiting room can change; for any other the
update is rejected, saying why, and the job is left as it is."""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.errors import JobctlError
from jobctl.logic import lifecycle
from jobctl.logic.submission.context import Context, Delivery, Outcome
from jobctl.logic.submission.reject import Rejections
from jobctl.models.jobs import QUEUED, utc_iso
from jobctl.models.requests import JobRequest
from jobctl.observability import count, logger


def not_waiting(status: str) -> str:
    started = "admitted and about to start" if status == QUEUED else status
    return f"priority: only a waiting job's priority can change; this job is {started}"


@dataclass(frozen=True)
class Update:
    context: Context
    rejections: Rejections

    def __call__(self, request: JobRequest, delivery: Delivery) -> Outcome:
        record = self.rejections.existing(request, delivery)
        if isinstance(record, Outcome):
            return record
        priority, at = request.job_priority, utc_iso(self.context.now())
        updated = self.context.revise(
            record, lambda current: lifecycle.reprioritize(current, priority, at)
        )
        if not updated.waiting or updated.priority != priority:
            return self.rejections.reject(request, [not_waiting(updated.status)], delivery)
        count("PrioritiesChanged", job_type=updated.job_type)
        logger.info("priority changed", extra={"priority": priority})
        if self.context.admission is not None:
            try:
                self.context.admission.run()  # a higher priority may start now
            except JobctlError as exc:  # the change is made: the next pass acts on it
                logger.warning("no pass now: the next one acts on it", extra={"error": str(exc)})
        # Remembered: a late duplicate of an older update must not undo a newer one.
        return Outcome.of(self.context.ledger.get(*updated.key) or updated, final=True)
