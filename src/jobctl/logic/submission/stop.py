"""Stopping a job (docs/contract.md §3): a running one is stopped in SageMaker; a Queued one
is cancelled — it settles as Stopped and is never submitted — and any job an earlier
create whose answer was lost may have started is stopped too, so nothing the controller
created runs untracked. A stop never reaches a job this deployment did not create."""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.errors import JobNotFound
from jobctl.logic import states
from jobctl.logic.reconciliation import Reconciler
from jobctl.logic.submission.context import Context, Delivery, Outcome, job_type
from jobctl.logic.submission.reject import Rejections
from jobctl.models.jobs import IN_PROGRESS, QUEUED, STOPPED, STOPPING, JobRecord
from jobctl.models.requests import JobRequest
from jobctl.observability import logger


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
        record = self.context.revise(
            record, states.end_retries, only_from={QUEUED, IN_PROGRESS, STOPPING}
        )
        if record.status == QUEUED:
            record = self.context.settle(record, STOPPED, "stopped before submission")
            if states.was_cancelled(record):
                stop_untracked(self.context, record)
                return Outcome.of(self.context.announce(record))
            # It was submitted meanwhile: stop it in SageMaker.
        if states.record_is_settled(record) or record.job_arn is None:
            return Outcome.of(record)
        self.context.sagemaker.stop_job(request.job_type, record.sagemaker_name)
        return Outcome.of(self.reconciler.refresh(record))


def stop_untracked(context: Context, record: JobRecord) -> None:
    """Stop the job of this name if this deployment created it for this request though the
    record never took it (a create's answer was lost); a job that does not exist, or is
    someone else's, is left alone."""
    try:
        observation = context.sagemaker.describe_job(job_type(record), record.sagemaker_name)
    except JobNotFound:
        return
    if states.is_settled(observation.primary_status, observation.secondary_status):
        return
    if observation.job_arn and context.created_by_us(observation.job_arn, record):
        logger.info("stopping a job a create started before the request was cancelled")
        context.sagemaker.stop_job(job_type(record), record.sagemaker_name)
