"""What happens to a job request taken off the queue (docs/contract.md §3).

- ``submit`` (submit.py): the request's record is made Queued, its job admitted to the
  capacity budgets and created in SageMaker, and the record takes the job; or the job
  waits in the waiting room (admission.py), is retried, is given up after its last
  delivery, or is rejected.
- ``stop`` (stop.py): a running job is stopped; a Queued one is cancelled, and a job a
  lost create started is stopped too.
- ``update`` (update.py): a waiting job's priority changes.
- rejections (reject.py): a request that breaks a rule is recorded as Rejected and
  announced; it uses up neither its job name nor its request id.

Each is a short module; ``context.py`` holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.logic.submission.context import Context, Delivery, Outcome
from jobctl.logic.submission.reject import Rejections
from jobctl.logic.submission.stop import Stop
from jobctl.logic.submission.submit import REUSED_REQUEST_ID, Submit
from jobctl.logic.submission.update import Update
from jobctl.models.requests import JobRequest

__all__ = ["REUSED_REQUEST_ID", "Context", "Delivery", "Outcome", "Submitter"]


@dataclass(frozen=True)
class Submitter:
    submit: Submit
    stop: Stop
    update: Update
    rejections: Rejections

    def give_up(self, request: JobRequest, delivery: Delivery, error: Exception) -> None:
        """A submit's last delivery failed outside the logic (Powertools' own records, say):
        it ends as any failure on the last delivery does (docs/contract.md §6)."""
        if request.action == "submit":
            self.submit.give_up(request, delivery, error)

    def handle(self, request: JobRequest, delivery: Delivery) -> Outcome:
        if request.action == "stop":
            return self.stop(request, delivery)
        if request.action == "update":
            return self.update(request, delivery)
        return self.submit(request, delivery)
