"""Stopping a job (docs/contract.md §3): a running one is stopped in SageMaker; a Queued one
is cancelled — it settles as Stopped and is never submitted — and any job an earlier
create whose answer was lost may have started is stopped too, so nothing the controller
created runs untracked. A stop never reaches a job this deployment did not create."""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.errors import JobNotFound
from jobctl.logic import lifecycle
from jobctl.logic.reconciliation import Reconciler
from jobctl.logic.submission.context import Context, Delivery, Outcome, job_type
from jobctl.logic.submission.reject import Rejections
from jobctl.models.jobs import STOPPED, JobRecord, Phase
from jobctl.models.requests import JobRequest
from jobctl.observability import logger

# Phases in which SageMaker has no job of the record running: a stop cancels the job.
CANCELLABLE = frozenset({Phase.SUBMITTING, Phase.WAITING, Phase.ADMITTED, Phase.BETWEEN_TRIES})


@dataclass(frozen=True)
class Stop:
    context: Context
    rejections: Rejections
    reconciler: Reconciler

    def __call__(self, request: JobRequest, delivery: Delivery) -> Outcome:
        record = self.rejections.existing(request, delivery)
        if isinstance(record, Outcome):
            return record
        # The retries end first (docs/contract.md §9): a try failing now is the last.
        record = self.context.revise(record, lifecycle.end_retries)
        if record.phase in CANCELLABLE:
            record = self.context.settle(record, STOPPED, "stopped before submission")
            if lifecycle.was_cancelled(record):
                stop_untracked(self.context, record)
                return Outcome.of(self.context.announce(record), final=True)
            # It was submitted meanwhile: stop it in SageMaker.
        if record.settled or record.job_arn is None:
            return Outcome.of(record, final=True)
        self.context.sagemaker.stop_job(request.job_type, record.sagemaker_name)
        return Outcome.of(self.reconciler.refresh(record), final=True)


def stop_untracked(context: Context, record: JobRecord) -> None:
    """Stop the job of this name if this deployment created it for this request though the
    record never took it (a create's answer was lost); a job that does not exist, or is
    someone else's, is left alone."""
    try:
        observation = context.sagemaker.describe_job(job_type(record), record.sagemaker_name)
    except JobNotFound:
        return
    if lifecycle.is_settled(observation.primary_status, observation.secondary_status):
        return
    if observation.job_arn and context.created_by_us(observation.job_arn, record):
        logger.info("stopping a job a create started before the request was cancelled")
        context.sagemaker.stop_job(job_type(record), record.sagemaker_name)
