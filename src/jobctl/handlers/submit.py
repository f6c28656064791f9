"""SubmitFunction: job requests from the SQS queue, in batches with partial failures."""

from __future__ import annotations

import random
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from jobctl import wiring
from jobctl.config import get_settings
from jobctl.errors import RetryableError
from jobctl.logic.admission import OverBudget, defer_delay
from jobctl.logic.submission import REUSED_REQUEST_ID, Delivery, NotRemembered
from jobctl.models.requests import UnreadableRequest, parse_request
from jobctl.observability import logger, metrics, tracer

_jitter = random.Random()  # noqa: S311 - spreads retries, no security role


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, str]:
    """One message: act on its request once, or reject it. Raising fails just this record."""
    delivery = Delivery(record.message_id, int(record.attributes.approximate_receive_count))
    logger.append_keys(message_id=record.message_id)
    try:
        request = parse_request(record.body)
    except UnreadableRequest as bad:
        identity = {"job_name": bad.job_name, "request_id": bad.request_id}
        return (
            wiring.submitter()
            .reject_raw(bad.problems, delivery, bad.job_type, **identity)
            .as_dict()
        )
    logger.set_correlation_id(request.name)
    logger.append_keys(job_type=request.job_type, action=request.action)
    try:
        return wiring.submit_once()(request=request, delivery=delivery)
    except NotRemembered as rejected:
        return rejected.outcome.as_dict()
    except OverBudget as waiting:
        # A new message, not a retry of this one: waiting never counts toward the DLQ.
        settings = get_settings()
        delay = defer_delay(waiting.deferrals, settings.defer_base_seconds, _jitter)
        wiring.requeue().send_later(record.body, delay)
        return {"job_name": request.name, "job_type": request.job_type, "status": "Queued"}
    except IdempotencyValidationError:
        submitter = wiring.submitter()
        return submitter.reject(request, [REUSED_REQUEST_ID], delivery, own_key=False).as_dict()
    except IdempotencyAlreadyInProgressError as exc:
        raise RetryableError("another invocation is handling the same request") from exc


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: a request carries Environment.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    wiring.idempotency_config().register_lambda_context(context)
    # Powertools' SQSRecord data class, not the parser's pydantic model: importing the
    # parser loads every event model it has (about 35 ms of cold start). A processor per
    # invocation: it holds the batch's results, and the local runtime runs two at once.
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
