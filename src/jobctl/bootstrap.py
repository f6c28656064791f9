"""The composition root: the controller's logic built on its adapters.

``bootstrap(settings, clients, clock)`` takes its dependencies (as cosmicpython's
``bootstrap.py`` does): the handlers call it once per container with the environment's
settings and real clients; tests, the local stack and the benchmarks call it with their
own. ``assemble`` builds the logic alone on any ports, so the logic's tests run on
in-memory fakes. Nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from jobctl.adapters.aws import Clients
from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.adapters.clock import SystemClock
from jobctl.adapters.ledger import DynamoDBLedger, DynamoDBSweepState
from jobctl.adapters.notices import SnsNoticePublisher
from jobctl.adapters.queue import SqsWakeup
from jobctl.adapters.quotas import CachedQuotas, ServiceQuotasReader
from jobctl.adapters.sagemaker import CallRates, SageMakerAdapter
from jobctl.adapters.waiting_room import WaitingRoomCounts
from jobctl.config import Settings, SettingsError
from jobctl.logic.admission import Admission
from jobctl.logic.ports import (
    CapacityLedger,
    Clock,
    Ledger,
    NoticePublisher,
    SageMakerGateway,
    SweepState,
    Wakeup,
)
from jobctl.logic.quotas import Quotas
from jobctl.logic.reconciliation import Reconciler, SweepLimits
from jobctl.logic.scheduling import Budgets, WaitingLimits
from jobctl.logic.submission import Context, Submitter
from jobctl.logic.submission.reject import Rejections
from jobctl.logic.submission.stop import Stop
from jobctl.logic.submission.submit import Submit
from jobctl.logic.submission.update import Update


@dataclass(frozen=True)
class Ports:
    """What the logic needs from the outside world: adapters in Lambda, fakes in tests."""

    sagemaker: SageMakerGateway
    ledger: Ledger
    publisher: NoticePublisher
    sweep_state: SweepState
    capacity: CapacityLedger
    wakeup: Wakeup | None = None  # None: no jobs queue to wake admitted jobs on


@dataclass(frozen=True, eq=False)  # compared, and hashed, by identity
class Controller:
    """Everything a container's handlers use."""

    settings: Settings
    clients: Clients
    submitter: Submitter
    reconciler: Reconciler


def bootstrap(settings: Settings, clients: Clients, clock: Clock | None = None) -> Controller:
    clock = clock or SystemClock()
    room = WaitingRoomCounts(clients.dynamodb, settings.idempotency_table)
    limits = WaitingLimits(settings.max_waiting_jobs, settings.max_waiting_shares)
    capacity = DynamoDBCapacity(
        clients.dynamodb, settings.idempotency_table, settings.jobs_table, room
    )
    ports = Ports(
        sagemaker=SageMakerAdapter(clients.sagemaker, clock, call_rates(settings)),
        ledger=DynamoDBLedger(clients.dynamodb, settings.jobs_table, room=room, limits=limits),
        publisher=SnsNoticePublisher(clients.sns, settings.notices_topic_arn),
        sweep_state=DynamoDBSweepState(clients.dynamodb, settings.idempotency_table),
        capacity=capacity,
        wakeup=SqsWakeup(clients.sqs, settings.jobs_queue_url) if settings.jobs_queue_url else None,
    )
    quotas = None
    if settings.instance_quotas_auto:
        if clients.service_quotas is None:
            raise ValueError("INSTANCE_TYPE_BUDGETS=auto needs a Service Quotas client")
        reader = ServiceQuotasReader(clients.service_quotas)
        cache = CachedQuotas(reader, clients.dynamodb, settings.idempotency_table, clock.now)
        quotas = cache.training_instances()
    submitter, reconciler = assemble(settings, ports, clock, quotas)
    if settings.schedules:
        capacity.record_budgets(budgets(settings, quotas))
    return Controller(
        settings=settings, clients=clients, submitter=submitter, reconciler=reconciler
    )


def budgets(settings: Settings, quotas: Mapping[str, int] | None = None) -> Budgets:
    """The budgets to schedule under: the settings', and with INSTANCE_TYPE_BUDGETS=auto
    the account's quotas, which an instance type named in the setting may only lower."""
    per_type = dict(settings.instance_type_budgets)
    if quotas is not None:
        per_type = {**quotas, **{t: min(n, quotas.get(t, n)) for t, n in per_type.items()}}
    quota_problems = Quotas(guaranteed=settings.share_quotas).problems(per_type)
    if quota_problems:  # with INSTANCE_TYPE_BUDGETS=auto, known only now
        raise SettingsError("jobctl is not configured: SHARE_QUOTAS: " + "; ".join(quota_problems))
    return Budgets(
        overall=settings.concurrency_budget,
        instance_types=per_type,
        share_limits=settings.share_limits,
        share_weights=settings.share_weights,
        half_life=settings.share_half_life_seconds,
        quotas=Quotas(
            guaranteed=settings.share_quotas,
            sharing=settings.share_sharing,
            preempt_within_share=settings.preempt_within_share,
            max_preemptions=settings.max_preemptions,
        ),
    )


def assemble(
    settings: Settings, ports: Ports, clock: Clock, quotas: Mapping[str, int] | None = None
) -> tuple[Submitter, Reconciler]:
    """The submit and reconcile logic on ``ports`` (``quotas``: the account's training
    instance quotas, for INSTANCE_TYPE_BUDGETS=auto)."""
    scheduled = budgets(settings, quotas)
    admission = (
        Admission(
            ports.ledger,
            ports.capacity,
            ports.wakeup,
            scheduled,
            clock.now,
            stop_job=ports.sagemaker.stop_job,
        )
        if ports.wakeup is not None
        else None
    )
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
        admission=admission,
        track_progress=settings.tracking_mode == "progress",
        prices=settings.instance_prices,
    )
    context = Context(
        sagemaker=ports.sagemaker,
        ledger=ports.ledger,
        publisher=ports.publisher,
        now=clock.now,
        notice_lease=reconciler.notice_lease,
        deployment_id=settings.deployment_id,
        admission=admission,
    )
    rejections = Rejections(context)
    submit = Submit(
        context=context,
        rejections=rejections,
        default_role_arn=settings.default_role_arn,
        permitted_roles=settings.permitted_role_arns,
        max_receive_count=settings.max_receive_count,
        budgets=scheduled,
        default_retry=settings.default_retry,
        known_shares=settings.shares,
    )
    stop = Stop(context=context, rejections=rejections, reconciler=reconciler)
    update = Update(context=context, rejections=rejections)
    submitter = Submitter(submit=submit, stop=stop, update=update, rejections=rejections)
    return submitter, reconciler


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
