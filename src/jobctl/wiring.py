"""The composition root: builds the logic with its adapters, once per container.

Nothing is built at import time, so tests can point the environment (and a fake
SageMaker) at the code before first use, without reloading modules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from jobctl.adapters import aws
from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.adapters.clock import SystemClock
from jobctl.adapters.ledger import DynamoDBLedger, DynamoDBSweepState
from jobctl.adapters.notices import SnsNoticePublisher
from jobctl.adapters.queue import SqsRequeue
from jobctl.adapters.sagemaker import CallRates, SageMakerAdapter
from jobctl.config import Settings, SettingsError, get_settings
from jobctl.logic.admission import OVERALL
from jobctl.logic.ports import Clock
from jobctl.logic.reconciliation import Reconciler, SweepLimits
from jobctl.logic.submission import Delivery, NotRemembered, Submitter
from jobctl.models.jobs import REJECTED
from jobctl.models.requests import JobRequest

# The clock the functions run on; beside the simulated SageMaker (tests, the local stack,
# benchmarks) it is the simulator's, so pacing spends simulated time.
clock: Clock = SystemClock()


def call_rates(settings: Settings) -> CallRates:
    """This container's share of the deployment's SageMaker request rates: creates are
    spread over the submit invocations that may run at once; one sweep runs at a time."""
    return CallRates(
        create=settings.sagemaker_create_rate / settings.submit_max_concurrency,
        list=settings.sagemaker_list_rate,
        describe=settings.sagemaker_describe_rate,
        stop=settings.sagemaker_create_rate / settings.submit_max_concurrency,
    )


@cache
def capacity() -> DynamoDBCapacity | None:
    settings = get_settings()
    if not settings.has_budget:
        return None
    return DynamoDBCapacity(aws.dynamodb(), settings.idempotency_table)


@cache
def requeue() -> SqsRequeue:
    queue_url = get_settings().jobs_queue_url
    if queue_url is None:
        raise SettingsError("JOBS_QUEUE_URL is not set: nothing can wait for capacity")
    return SqsRequeue(aws.sqs(), queue_url)


def budget_keys() -> tuple[str, ...]:
    settings = get_settings()
    overall = (OVERALL,) if settings.concurrency_budget else ()
    return overall + tuple(sorted(settings.instance_type_budgets))


@cache
def reconciler() -> Reconciler:
    settings = get_settings()
    return Reconciler(
        sagemaker=SageMakerAdapter(aws.sagemaker(), clock, call_rates(settings)),
        ledger=DynamoDBLedger(aws.dynamodb(), settings.jobs_table),
        publisher=SnsNoticePublisher(aws.sns(), settings.notices_topic_arn),
        sweep_state=DynamoDBSweepState(aws.dynamodb(), settings.idempotency_table),
        clock=clock,
        notice_lease=timedelta(seconds=settings.notice_lease_seconds),
        deployment_id=settings.deployment_id,
        limits=SweepLimits(
            list_calls=settings.sweep_list_calls,
            describe_calls=settings.sweep_describe_calls,
            list_window=timedelta(seconds=settings.sweep_list_window_seconds),
        ),
        capacity=capacity(),
        budget_keys=budget_keys(),
        track_progress=settings.tracking_mode == "progress",
    )


@cache
def submitter() -> Submitter:
    settings = get_settings()
    shared = reconciler()
    return Submitter(
        sagemaker=shared.sagemaker,
        ledger=shared.ledger,
        publisher=shared.publisher,
        reconciler=shared,
        now=clock.now,
        notice_lease=shared.notice_lease,
        default_role_arn=settings.default_role_arn,
        permitted_roles=settings.permitted_role_arns,
        max_receive_count=settings.max_receive_count,
        deployment_id=settings.deployment_id,
        capacity=capacity(),
        overall_budget=settings.concurrency_budget,
        instance_type_budgets=settings.instance_type_budgets,
    )


@cache
def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        # CONTRACT §3: one action per (job_type, action, request_id), whatever the deliveries.
        event_key_jmespath="[job_type, action, request_id]",
        # The same request_id with a different body is an error, not a replay.
        payload_validation_jmespath="[job_name, spec]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
        hash_function="sha256",
    )


@cache
def idempotency_store() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=aws.dynamodb()
    )


def reset() -> None:
    """Forget every built object (tests use this between cases)."""
    factories = (
        capacity,
        requeue,
        reconciler,
        submitter,
        idempotency_config,
        idempotency_store,
        submit_once,
    )
    for factory in (*factories, get_settings):
        factory.cache_clear()
    aws.reset()


@cache
def submit_once() -> Callable[..., dict[str, str]]:
    """``Submitter.handle`` behind Powertools idempotency (CONTRACT §3)."""

    @idempotent_function(  # type: ignore[untyped-decorator]  # Powertools types it loosely
        data_keyword_argument="request",
        persistence_store=idempotency_store(),
        config=idempotency_config(),
    )
    def act_once(request: JobRequest, delivery: Delivery) -> dict[str, str]:
        outcome = submitter().handle(request, delivery)
        if outcome.status == REJECTED:
            raise NotRemembered(outcome)
        return outcome.as_dict()

    return act_once  # type: ignore[no-any-return]
