"""ReconcileFunction: SageMaker state-change events, and the scheduled sweep."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from jobctl.adapters.sagemaker import training_observation
from jobctl.handlers import controller
from jobctl.models.events import MalformedEvent, ScheduledEvent, parse_reconcile_event
from jobctl.observability import logger, metrics, secret_values, shape_of


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: an event's detail carries
# the job's Environment.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = parse_reconcile_event(event)
    except MalformedEvent as exc:
        # Dropped, not raised: a retry could never make it readable (docs/contract.md §6).
        logger.warning(
            "malformed event dropped", extra={"reason": str(exc), "event": shape_of(event)}
        )
        return {"dropped": str(exc)}
    reconciler = controller().reconciler
    if isinstance(parsed, ScheduledEvent):
        time_left = timedelta(milliseconds=context.get_remaining_time_in_millis())
        return {"sweep": asdict(reconciler.sweep(context.aws_request_id, time_left))}
    # Only the fields the model read; the raw detail's secrets are scrubbed from its text.
    detail = training_observation(
        parsed.detail.model_dump(exclude_none=True), secret_values(event.get("detail"))
    )
    logger.set_correlation_id(detail.job_name)
    record = reconciler.on_state_change("TrainingJob", detail)
    return {"job_name": detail.job_name, "status": record.status if record else None}
