"""The composition root: the controller's logic built on its adapters.

``bootstrap(settings, clients, clock)`` takes its dependencies (as cosmicpython's
``bootstrap.py`` does): the handlers call it once per container with the environment's
settings and real clients; tests, the local stack and the benchmarks call it with their
own. ``assemble`` builds the logic alone on any ports, so the logic's tests run on
in-memory fakes. Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from jobctl.adapters.aws import Clients
from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.adapters.clock import SystemClock
from jobctl.adapters.ledger import DynamoDBLedger, DynamoDBSweepState
from jobctl.adapters.notices import SnsNoticePublisher
from jobctl.adapters.queue import SqsRequeue
from jobctl.adapters.sagemaker import CallRates, SageMakerAdapter
from jobctl.config import Settings
from jobctl.logic.admission import OVERALL
from jobctl.logic.ports import (
    CapacityLedger,
    Clock,
    Ledger,
    NoticePublisher,
    SageMakerGateway,
    SweepState,
)
from jobctl.logic.reconciliation import Reconciler, SweepLimits
from jobctl.logic.submission import Context, Submitter
from jobctl.logic.submission.reject import Rejections
from jobctl.logic.submission.stop import Stop
from jobctl.logic.submission.submit import Submit


@dataclass(frozen=True)
class Ports:
    """What the logic needs from the outside world: adapters in Lambda, fakes in tests."""

    sagemaker: SageMakerGateway
    ledger: Ledger
    publisher: NoticePublisher
    sweep_state: SweepState
    capacity: CapacityLedger | None = None


@dataclass(frozen=True, eq=False)  # compared, and hashed, by identity
class Controller:
    """Everything a container's handlers use."""

    settings: Settings
    clients: Clients
    submitter: Submitter
    reconciler: Reconciler
    requeue: SqsRequeue | None


def bootstrap(settings: Settings, clients: Clients, clock: Clock | None = None) -> Controller:
    clock = clock or SystemClock()
    ports = Ports(
        sagemaker=SageMakerAdapter(clients.sagemaker, clock, call_rates(settings)),
        ledger=DynamoDBLedger(clients.dynamodb, settings.jobs_table),
        publisher=SnsNoticePublisher(clients.sns, settings.notices_topic_arn),
        sweep_state=DynamoDBSweepState(clients.dynamodb, settings.idempotency_table),
        capacity=(
            DynamoDBCapacity(clients.dynamodb, settings.idempotency_table)
            if settings.has_budget
            else None
        ),
    )
    submitter, reconciler = assemble(settings, ports, clock)
    return Controller(
        settings=settings,
        clients=clients,
        submitter=submitter,
        reconciler=reconciler,
        requeue=(
            SqsRequeue(clients.sqs, settings.jobs_queue_url) if settings.jobs_queue_url else None
        ),
    )


def assemble(settings: Settings, ports: Ports, clock: Clock) -> tuple[Submitter, Reconciler]:
    """The submit and reconcile logic on ``ports``."""
    reconciler = Reconciler(
        sagemaker=ports.sagemaker,
        ledger=ports.ledger,
        publisher=ports.publisher,
        sweep_state=ports.sweep_state,
        clock=clock,
        notice_lease=timedelta(seconds=settings.notice_lease_seconds),
        deployment_id=settings.deployment_id,
        limits=SweepLimits(
            list_calls=settings.sweep_list_calls,
            describe_calls=settings.sweep_describe_calls,
            list_window=timedelta(seconds=settings.sweep_list_window_seconds),
        ),
        capacity=ports.capacity,
        budget_keys=budget_keys(settings),
        track_progress=settings.tracking_mode == "progress",
    )
    context = Context(
        sagemaker=ports.sagemaker,
        ledger=ports.ledger,
        publisher=ports.publisher,
        now=clock.now,
        notice_lease=reconciler.notice_lease,
        deployment_id=settings.deployment_id,
    )
    rejections = Rejections(context)
    submit = Submit(
        context=context,
        rejections=rejections,
        default_role_arn=settings.default_role_arn,
        permitted_roles=settings.permitted_role_arns,
        max_receive_count=settings.max_receive_count,
        capacity=ports.capacity,
        overall_budget=settings.concurrency_budget,
        instance_type_budgets=settings.instance_type_budgets,
    )
    stop = Stop(context=context, rejections=rejections, reconciler=reconciler)
    return Submitter(submit=submit, stop=stop, rejections=rejections), reconciler


def call_rates(settings: Settings) -> CallRates:
    """This container's share of the deployment's SageMaker request rates: creates are
    spread over the submit invocations that may run at once; one sweep runs at a time."""
    per_container = settings.sagemaker_create_rate / settings.submit_max_concurrency
    return CallRates(
        create=per_container,
        list=settings.sagemaker_list_rate,
        describe=settings.sagemaker_describe_rate,
        stop=per_container,
    )


def budget_keys(settings: Settings) -> tuple[str, ...]:
    overall = (OVERALL,) if settings.concurrency_budget else ()
    return overall + tuple(sorted(settings.instance_type_budgets))
