"""SubmitFunction: job requests from the SQS queue, in batches with partial failures.

The whole submit story, from the message to what Powertools remembers of it: a record is
parsed (an unreadable one is rejected at once), acted on once per
``(job_type, action, request_id)`` behind Powertools idempotency, and either answered
or failed — failing a record makes SQS deliver it again. Model: Powertools'
``examples/idempotency/src/integrate_idempotency_with_batch_processor.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.dataclass import (
    DataclassSerializer,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from jobctl.bootstrap import Controller
from jobctl.errors import RetryableError
from jobctl.handlers import controller
from jobctl.logic.submission import REUSED_REQUEST_ID, Delivery, Outcome
from jobctl.models.requests import JobRequest, UnreadableRequest, parse_request
from jobctl.observability import logger, metrics

# One action per (job_type, action, request_id), whatever the deliveries (docs/contract.md
# §3): a stop never collides with the submit of the same job.
# A retry's wake-up names its try (docs/contract.md §9), so it is not the original's replay.
IDEMPOTENCY_KEY = "[job_type, action, request_id, attempt]"
# The same request_id with another body is an error, not a replay: a submit's body is
# its spec; an update's (it has no spec) is its priority, so a second update needs its own
# request_id and a late duplicate of an old one cannot undo a newer one.
IDEMPOTENT_PAYLOAD = "[job_name, spec || priority]"


class NotRemembered(Exception):
    """An outcome Powertools must forget: raised out of the idempotent scope, which then
    deletes its record, instead of returned (and stored as the request's outcome)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


@dataclass(frozen=True)
class IdempotentSubmit:
    config: IdempotencyConfig
    act: Callable[..., Outcome]


@cache
def idempotent_submit(built: Controller) -> IdempotentSubmit:
    """``Submitter.handle`` behind Powertools idempotency, once per controller.

    An outcome that is not ``final`` escapes the idempotent scope, so Powertools keeps
    no record of it: a job that waits (its wake-up is the same request, and must create
    it), a rejection (it uses nothing up: the corrected request may reuse the id), a job
    given up (a redrive of its request tries again).
    """
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        payload_validation_jmespath=IDEMPOTENT_PAYLOAD,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=built.settings.idempotency_ttl_seconds,
        hash_function="sha256",
    )

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools types it loosely
        data_keyword_argument="request",
        persistence_store=DynamoDBPersistenceLayer(
            table_name=built.settings.idempotency_table, boto3_client=built.clients.dynamodb
        ),
        config=config,
        output_serializer=DataclassSerializer(Outcome),
    )
    def act(request: JobRequest, delivery: Delivery) -> Outcome:
        outcome = built.submitter.handle(request, delivery)
        if not outcome.final:
            raise NotRemembered(outcome)
        return outcome

    return IdempotentSubmit(config, act)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """One message: act on its request once, or reject it. Raising fails just this record."""
    built = controller()
    delivery = Delivery(
        record.message_id, int(record.attributes.approximate_receive_count), record.body
    )
    logger.append_keys(message_id=record.message_id)
    try:
        request = parse_request(record.body)
    except UnreadableRequest as bad:
        identity = {"job_name": bad.job_name, "request_id": bad.request_id}
        rejections = built.submitter.rejections
        rejected = rejections.reject_raw(bad.problems, delivery, bad.job_type, **identity)
        return asdict(rejected)
    logger.set_correlation_id(request.name)
    logger.append_keys(job_type=request.job_type, action=request.action)
    try:
        outcome: Outcome = idempotent_submit(built).act(request=request, delivery=delivery)
    except NotRemembered as forgotten:
        outcome = forgotten.outcome
    except IdempotencyValidationError:
        rejections = built.submitter.rejections
        outcome = rejections.reject(request, [REUSED_REQUEST_ID], delivery, own_key=False)
    except Exception as exc:
        if delivery.receive_count >= built.settings.max_receive_count:
            built.submitter.give_up(request, delivery, exc)  # before the DLQ takes it
        if isinstance(exc, IdempotencyAlreadyInProgressError):
            raise RetryableError("another invocation is handling the same request") from exc
        raise
    return asdict(outcome)


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: a request carries Environment.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotent_submit(controller()).config.register_lambda_context(context)
    # Powertools' SQSRecord data class, not the parser's pydantic model: importing the
    # parser loads every event model it has (about 35 ms of cold start). A processor per
    # invocation: it holds the batch's results, and the local runtime runs two at once.
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
