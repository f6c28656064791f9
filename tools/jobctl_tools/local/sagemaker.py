"""A simulated Amazon SageMaker for training and AutoML (v1) jobs, as strict as the real one.

It is the local stack's stand-in for SageMaker and the one fake every test, demo, soak
and benchmark shares, so it is unkind where SageMaker is:

- Requests are checked against botocore's own service model (maximum lengths and
  patterns included); ``Environment`` is echoed back by DescribeTrainingJob.
- List calls take a page of ``MaxResults`` (at most 100) in the requested sort order
  (botocore's documented defaults otherwise) and only then apply their filters, as
  botocore's doc string for ListTrainingJobs says SageMaker does: a filtered listing
  pages through an account's whole history, and ``seed_history`` gives the account one.
- Request rates are limited per account, one token bucket per operation on the
  simulator's clock, answered with ``ThrottlingException: Rate exceeded``.
- Training instances are limited per account and instance type, as SageMaker's quotas
  count them (``sagemaker_quotas``): a create beyond them is ``ResourceLimitExceeded``.
- Jobs take today's paths: ``Pending`` before ``Starting`` for some, spot interruptions
  (``Interrupted`` → ``Restarting``), stops by SageMaker at ``MaxRuntimeExceeded`` or
  ``MaxWaitTimeExceeded``, AutoML's insights and deployment steps.
- Any operation can be made to fail on demand (throttling, capacity, 5xx, a lost
  answer) — the things moto's SageMaker cannot do — and a job's tags choose its
  outcome: failing the first tries of a request with a chosen ``FailureReason``
  (``FAILED_TRIES_TAG``, ``FAILURE_REASON_TAG``), as a retrying controller meets them.
- An ended training job reports what it is billed for, TrainingTimeInSeconds and
  BillableTimeInSeconds (less on managed spot), and ``billed`` / ``billed_total`` give
  the same numbers to a benchmark that checks a report against them.
- Tags follow SageMaker's rules (botocore's pattern, checked here since Python's ``re``
  cannot compile it).

``attach(client)`` serves a real boto3 client in-process: botocore builds and checks
the request as usual, and this simulator answers instead of the network.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import json
import random
import re
import threading
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.model import ServiceModel

from jobctl.logic.spec_validation import spec_problems
from jobctl.models.kinds import KINDS, JobKind, JobType
from jobctl_tools.local import json_api
from jobctl_tools.local.json_api import ServiceError
from jobctl_tools.local.rate_limits import AccountRateLimits, RateLimit
from jobctl_tools.local.sagemaker_quotas import (
    ACCOUNT_TRAINING_QUOTAS,
    AccountQuotas,
    limit_exceeded,
    training_instances,
    training_quota_name,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
_STATUS = {"ResourceNotFound": 400, "InternalFailure": 500, "ServiceUnavailable": 503}

# Users choose a simulated job's outcome with this tag on the request, e.g.
# {"Key": "jobctl-sim:outcome", "Value": "Failed"}; real SageMaker just keeps the tag.
OUTCOME_TAG = "jobctl-sim:outcome"
# "Hang" keeps a job training until it is stopped (by a user, or at MaxRuntimeInSeconds).
OUTCOMES = ("Completed", "Failed", "ExplainabilityError", "Hang")
# And make its create fail first, e.g. {"Key": "jobctl-sim:create-errors",
# "Value": "ResourceLimitExceeded:5"}: the first five creates of that name answer so.
# (A tag value cannot hold "*", the separator this tag once took: SageMaker refuses it.)
CREATE_ERRORS_TAG = "jobctl-sim:create-errors"
# The FailureReason a job the tags make fail reports, e.g. {"Key":
# "jobctl-sim:failure-reason", "Value": CAPACITY_ERROR}; without it, DEFAULT_FAILURE_REASON.
FAILURE_REASON_TAG = "jobctl-sim:failure-reason"
DEFAULT_FAILURE_REASON = f"AlgorithmError: simulated failure ({OUTCOME_TAG}=Failed)"
# The first N jobs of one request fail, e.g. {"Key": "jobctl-sim:failed-tries", "Value":
# "1"}; later ones take the outcome OUTCOME_TAG gives them (Completed without it). One
# request is the jobs of one kind that share the value of REQUEST_TAG, which the
# controller puts on every try of a request (its job_name); a job without it is a request
# of its own, known by its own name.
FAILED_TRIES_TAG = "jobctl-sim:failed-tries"
# The controller's own tag (jobctl.logic.requests.JOB_TAG_KEY), spelt out rather than
# imported: bench.scheduling runs this simulator beside a controller from before retries.
REQUEST_TAG = "jobctl:job"
# FailureReasons in SageMaker's words, as users report them. A tag value holds only
# letters, digits, spaces and "_ . : / = + - @" (no newline), which these fit.
# DIAGNijmegen/rse-grand-challenge#2631; the SageMaker Python SDK raises its CapacityError
# when "CapacityError" is in the reason. SageMaker fails such a job while Starting: it
# never trains.
CAPACITY_ERROR = (
    "CapacityError: Unable to provision requested ML compute capacity. "
    "Please retry using a different ML instance type."
)
# aws/sagemaker-python-sdk#70 and #2496, aws/sagemaker-spark#76.
INTERNAL_SERVER_ERROR = "InternalServerError: We encountered an internal error. Please try again."
# huggingface/notebooks#136 and aws/sagemaker-python-sdk#1422: SageMaker's reads
# "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage ..."; a tag cannot
# hold the newlines, so spaces stand for them.
ALGORITHM_ERROR = "AlgorithmError: ExecuteUserScriptError: ExitCode 1"
# Reasons of failures that come before the instances are provisioned (no training time).
_FAILS_WHILE_STARTING = ("CapacityError",)


# -- what a training job is billed for ------------------------------------------------------

# DescribeTrainingJob of an ended training job reports TrainingTimeInSeconds and
# BillableTimeInSeconds. Training time runs from TrainingStartTime, when the job starts
# on its instances (botocore: "You are billed for the time interval between this time
# and the value of TrainingEndTime"), to TrainingEndTime: here from the first of these
# secondary statuses (Pending and Starting, while instances are found and provisioned,
# come before it) to the end, in whole seconds rounded down, at least 1 (botocore's
# minimum). A job that ended before reaching one of them never trained: like SageMaker
# for a job that failed while starting ("attributes like TrainingStartTime,
# TrainingTimeInSeconds, TrainingEndTime, and BillableTimeInSeconds may not be
# present"), its Describe omits TrainingStartTime and both times.
ON_INSTANCES = frozenset({"Downloading", "Training", "Interrupted", "Restarting", "Uploading"})
# On-demand, billable time is the training time. Managed spot training bills less: the
# saving, (1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100 as botocore defines
# it, is this tag's percent (0 to 90: AWS advertises savings of up to 90 %), or by default
# 70, an assumption. Billable time is rounded to the nearest second (halves up), at least
# 1 and never above the training time.
SPOT_SAVINGS_TAG = "jobctl-sim:spot-savings"
# A stopped training job stays Stopping this long: SageMaker sends the algorithm SIGTERM
# and waits 120 seconds before it ends the job (its documentation, "Stop a training
# job"), for the job to save a checkpoint. Spot and on-demand alike.
STOPPING_SECONDS = 120
STOPPING = timedelta(seconds=STOPPING_SECONDS)
# Checkpoints: a training job with a CheckpointConfig and {"Key":
# "jobctl-sim:checkpoint-minutes", "Value": "20"} saves its progress every 20 minutes of
# training; a later job of the same request (REQUEST_TAG) resumes from the last one
# (``SimulatedJob.resumed_seconds``: what it need not train again).
CHECKPOINT_TAG = "jobctl-sim:checkpoint-minutes"
DEFAULT_SPOT_SAVINGS_PERCENT = 70
MAX_SPOT_SAVINGS_PERCENT = 90
# The StatusMessage of each SecondaryStatusTransitions entry: real answers carry one in
# every entry (the SDK's wait and logs read it). The documented ones (botocore's
# SecondaryStatusTransition), and for the others the messages SageMaker's consoles show;
# a status not listed says its own name.
STATUS_MESSAGES = {
    "Pending": "Preparing the instances for training",
    "Starting": "Starting the training job",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: it exceeded its MaxRuntimeInSeconds",
    "MaxWaitTimeExceeded": "Training job stopped: it exceeded its MaxWaitTimeInSeconds",
    "Interrupted": "The spot instances were interrupted",
    "Restarting": "Restarting the training job",
}
# What real DescribeTrainingJob answers carry when the request left it out (captured
# answers, and the SageMaker Python SDK's fixtures of them; Estimator.attach reads them).
TRAINING_DEFAULTS: dict[str, Any] = {
    "EnableNetworkIsolation": False,
    "EnableInterContainerTrafficEncryption": False,
    "EnableManagedSpotTraining": False,
}
OUTPUT_DEFAULTS = {"KmsKeyId": "", "CompressionType": "GZIP"}
# DescribeAutoMLJob answers with every completion criterion, those the request left out
# filled with Autopilot's defaults (250 candidates; the two runtimes are assumed: a day per
# candidate, 30 days for the job, as the console shows them).
AUTOML_COMPLETION_DEFAULTS = {
    "MaxCandidates": 250,
    "MaxRuntimePerTrainingJobInSeconds": 86_400,
    "MaxAutoMLJobRuntimeInSeconds": 2_592_000,
}
# What Describe reports that SageMaker's state-change events and List summaries do not
# (AWS's documented sample event; botocore's TrainingJobSummary).
_DESCRIBE_ONLY = ("TrainingTimeInSeconds", "BillableTimeInSeconds")


@dataclass(frozen=True)
class Billed:
    """What SageMaker bills a training job (or, summed, jobs) for: DescribeTrainingJob's
    TrainingTimeInSeconds and BillableTimeInSeconds, and BillableTimeInSeconds times the
    job's instances (botocore: "BillableTimeInSeconds * InstanceCount")."""

    training_seconds: int = 0
    billable_seconds: int = 0
    billable_instance_seconds: int = 0

    def __add__(self, other: Billed) -> Billed:
        return Billed(
            self.training_seconds + other.training_seconds,
            self.billable_seconds + other.billable_seconds,
            self.billable_instance_seconds + other.billable_instance_seconds,
        )


# -- account-wide rate limits ---------------------------------------------------------------

# SageMaker documents few of its API rates; these are what users report, or assumptions
# (README, "Rate limits"). Every user of the account shares them. SageMaker publishes no
# bucket sizes either: a bucket holds two calls (a burst of 2, then the rate), so two
# calls paced a second apart that arrive 0.99 s apart still pass.
RATE_LIMITS: dict[str, RateLimit] = {
    # About 1 call per second (aws/sagemaker-python-sdk#645, aws/deep-learning-containers#1018).
    "CreateTrainingJob": RateLimit(1, 2),
    "CreateAutoMLJob": RateLimit(1, 2),  # assumed: as CreateTrainingJob
    # 2 calls per second, not adjustable (aws-solutions/deepracer-on-aws#87).
    "ListTrainingJobs": RateLimit(2, 2),
    "ListAutoMLJobs": RateLimit(2, 2),  # assumed: as ListTrainingJobs
    "StopTrainingJob": RateLimit(1, 2),  # assumed: as the creates
    "StopAutoMLJob": RateLimit(1, 2),
}
DEFAULT_RATE_LIMIT = RateLimit(5, 5)  # assumed: Describe*, ListTags


# -- what a job does ------------------------------------------------------------------------

Step = tuple[str, str]  # (primary status, secondary status)

# The basic documented paths (``complete`` walks these).
TRAINING_PATH: list[Step] = [
    ("InProgress", "Starting"),
    ("InProgress", "Downloading"),
    ("InProgress", "Training"),
    ("InProgress", "Uploading"),
    ("Completed", "Completed"),
]
AUTOML_PATH: list[Step] = [
    ("InProgress", "Starting"),
    ("InProgress", "AnalyzingData"),
    ("InProgress", "FeatureEngineering"),
    ("InProgress", "ModelTuning"),
    ("Completed", "GeneratingExplainabilityReport"),
    ("Completed", "GeneratingModelInsightsReport"),
    ("Completed", "Completed"),
]
# One training job in five waits for capacity (``Pending``) before it starts, as jobs
# on training plans and scarce instance types do.
PENDING_SHARE = 5


def planned_path(job_type: str, outcome: str, request: dict[str, Any] | None = None) -> list[Step]:
    """The (primary, secondary) steps a simulated job takes after it starts."""
    return SIMULATED[job_type].plan(outcome, request or {})


def _training_plan(outcome: str, request: dict[str, Any]) -> list[Step]:
    if outcome == "Failed" and _failure_reason(request).startswith(_FAILS_WHILE_STARTING):
        return [("Failed", "Failed")]
    work = [("InProgress", "Downloading"), ("InProgress", "Training")]
    if request.get("EnableManagedSpotTraining"):
        # Spot capacity is reclaimed once, and the job resumes from its checkpoint.
        work += [
            ("InProgress", "Interrupted"),
            ("InProgress", "Restarting"),
            ("InProgress", "Training"),
        ]
    finish = [("InProgress", "Uploading"), ("Completed", "Completed")]
    if outcome == "Failed":
        return [*work[:2], ("Failed", "Failed")]
    if outcome == "Hang":
        return work[:2]
    return work + finish


def _automl_plan(outcome: str, request: dict[str, Any]) -> list[Step]:
    config = request.get("AutoMLJobConfig") or {}
    if config.get("Mode") == "ENSEMBLING":
        work = [
            ("InProgress", "AnalyzingData"),
            ("InProgress", "PreTraining"),
            ("InProgress", "TrainingModels"),
        ]
    else:
        work = [
            ("InProgress", "AnalyzingData"),
            ("InProgress", "FeatureEngineering"),
            ("InProgress", "ModelTuning"),
        ]
    reports = [
        ("Completed", "GeneratingExplainabilityReport"),
        ("Completed", "GeneratingModelInsightsReport"),
    ]
    if request.get("ModelDeployConfig"):
        reports.append(("Completed", "DeployingModel"))
    criteria = config.get("CompletionCriteria") or {}
    final = "MaxCandidatesReached" if criteria.get("MaxCandidates") else "Completed"
    if outcome == "Failed":
        return [*work[:2], ("Failed", "Failed")]
    if outcome == "Hang":
        return work[:2]
    if outcome == "ExplainabilityError":
        return [*work, reports[0], ("Completed", "ExplainabilityError")]
    return [*work, *reports, ("Completed", final)]


class SageMakerError(ServiceError):
    """An error answer, as SageMaker gives it: a code, a message and an HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message, status or _STATUS.get(code, 400))


@dataclass
class SimulatedJob:
    job_type: str
    name: str
    arn: str
    request: dict[str, Any]
    created: datetime
    modified: datetime
    status: str = "InProgress"
    secondary: str = "Starting"
    failure_reason: str | None = None
    ended: datetime | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    plan: list[Step] = field(default_factory=list)
    # Why SageMaker itself stops the job (MaxRuntimeExceeded...); None: a user stopped it.
    stop_reason: str | None = None
    # The training its request's earlier jobs saved in checkpoints, which it resumes from.
    resumed_seconds: float = 0.0

    @property
    def tags(self) -> dict[str, str]:
        return _tag_map(self.request)

    @property
    def kind(self) -> JobKind:
        return KINDS[self.job_type]  # type: ignore[index]


class Clock(Protocol):
    def now(self) -> datetime: ...


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# ListTrainingJobs / ListAutoMLJobs: the sort keys, and what each filter keeps.
_SORT_KEYS: dict[str, Callable[[SimulatedJob], tuple[Any, ...]]] = {
    "CreationTime": lambda job: (job.created.timestamp(), job.name),
    "Name": lambda job: (job.name,),
    "Status": lambda job: (job.status, job.name),
}
_FILTERS: dict[str, Callable[[SimulatedJob, Any], bool]] = {
    "CreationTimeAfter": lambda job, at: job.created > at,
    "CreationTimeBefore": lambda job, at: job.created < at,
    "LastModifiedTimeAfter": lambda job, at: job.modified > at,
    "LastModifiedTimeBefore": lambda job, at: job.modified < at,
    "NameContains": lambda job, text: text.lower() in job.name.lower(),
    "StatusEquals": lambda job, status: job.status == status,
}
DEFAULT_MAX_RESULTS = 10


class SimulatedSageMaker:
    """Jobs move when a test says so (``set_state``, ``complete``) or, with ``step``, on
    their own: one status every ``step`` of the clock, each time ``advance()`` is called.

    ``on_change(job)`` is called after every status change; it must not call back into
    the simulator (the local stack queues the event and delivers it from another thread).
    ``rate_limits=None`` turns the account's rate limits off: only for a test that needs
    that, and says so.

    ``training_quotas`` and ``spot_training_quotas`` (instance type: instances) are the
    account's training quotas; a type they do not name has AWS's default (0 on-demand).
    By default the account holds ``ACCOUNT_TRAINING_QUOTAS``; ``set_quota`` grants more.

    A stopped job stays ``Stopping`` for ``stopping`` (SageMaker's 120 seconds by
    default; the local stack, whose jobs take a ``step`` per status, takes a step).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        step: timedelta | None = None,
        on_change: Callable[[SimulatedJob], None] | None = None,
        rate_limits: dict[str, RateLimit] | None = RATE_LIMITS,
        training_quotas: Mapping[str, int] = ACCOUNT_TRAINING_QUOTAS,
        spot_training_quotas: Mapping[str, int] | None = None,
        stopping: timedelta = STOPPING,
    ) -> None:
        self.clock = clock or _WallClock()
        self.step = step
        self.stopping = stopping
        self.on_change = on_change
        self.rate_limits = rate_limits
        self._limits = AccountRateLimits(rate_limits, DEFAULT_RATE_LIMIT)
        self.quotas = AccountQuotas(training_quotas, spot_training_quotas or {})
        self.jobs: dict[tuple[str, str], SimulatedJob] = {}
        self.calls: Counter[str] = Counter()
        # Calls by (operation, whole second of the clock): peak request rates.
        self.calls_by_second: Counter[tuple[str, int]] = Counter()
        self.error_answers: Counter[str] = Counter()
        # Calls the account's rate limits refused, by operation (injected faults aside).
        self.throttled = self._limits.throttled
        # Per operation, what the next calls raise, and whether the call takes effect first.
        self._faults: dict[str, list[tuple[BaseException, bool]]] = {}
        self._create_attempts: Counter[tuple[str, str]] = Counter()
        # Jobs created per request (job type, REQUEST_TAG's value or the job's name).
        self._tries: Counter[tuple[str, str]] = Counter()
        # Per request, the training its stopped jobs saved in checkpoints (seconds).
        self._saved: dict[tuple[str, str], float] = {}
        self._by_arn: dict[str, SimulatedJob] = {}
        # Jobs that may still move on their own (an account's history never does).
        self._active: set[tuple[str, str]] = set()
        # Per job type and sort key, the jobs in ascending order (kept up to date on create).
        self._ordered: dict[tuple[str, str], list[SimulatedJob]] = {}
        self._lock = threading.RLock()
        self._handlers = self._operations()

    @property
    def service_model(self) -> ServiceModel:
        return json_api.service_model("sagemaker")

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self) -> int:
        """Move every job whose step has elapsed one status further; returns how many moved."""
        if self.step is None:
            return 0
        moved = 0
        with self._lock:
            now = self.now()
            for key in sorted(self._active):
                job = self.jobs[key]
                if self._stopped_by_limit(job, now):
                    moved += 1
                    continue
                wait = self.stopping if job.status == "Stopping" else self.step
                if now - job.modified < wait:
                    continue
                if self.take_step(job.job_type, job.name):
                    moved += 1
        return moved

    def take_step(self, job_type: str, name: str) -> bool:
        """Move the job one status along its path now (what ``advance`` does once its step
        has elapsed): a stopping job to Stopped, a job with a plan to its next step.
        Returns whether it moved."""
        with self._lock:
            job = self._job(job_type, name)
            if job.status == "Stopping":
                self.set_state(job_type, name, "Stopped", job.stop_reason or "Stopped")
            elif job.plan:
                status, secondary = job.plan.pop(0)
                self.set_state(job_type, name, status, secondary, _reason(job, secondary))
            else:
                return False
            return True

    def _stopped_by_limit(self, job: SimulatedJob, now: datetime) -> bool:
        """SageMaker stops a training job at its MaxRuntimeInSeconds (and a spot job at its
        MaxWaitTimeInSeconds): it goes Stopping, then Stopped with the limit as reason."""
        if not SIMULATED[job.job_type].runtime_limited or job.status != "InProgress":
            return False
        stopping = job.request.get("StoppingCondition") or {}
        ran = (now - job.created).total_seconds()
        spot = _spot(job.request)
        limits = [("MaxRuntimeExceeded", stopping.get("MaxRuntimeInSeconds"))]
        if spot:
            limits.insert(0, ("MaxWaitTimeExceeded", stopping.get("MaxWaitTimeInSeconds")))
        for reason, limit in limits:
            if limit and ran > limit:
                job.stop_reason = reason
                job.plan = []
                self.set_state(job.job_type, job.name, "Stopping", "Stopping")
                return True
        return False

    # -- test and demo controls -----------------------------------------------------------

    def fail_next(
        self,
        operation: str,
        code: str = "ThrottlingException",
        times: int = 1,
        message: str = "",
        after_effect: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``operation`` fail with ``code``.

        With ``after_effect`` the call takes effect first and only its answer is lost,
        as when a connection drops after SageMaker accepted a request.
        """
        error = SageMakerError(code, message or f"simulated {code}")
        self._faults.setdefault(operation, []).extend([(error, after_effect)] * times)

    def interrupt_next(
        self, operation: str, exception: BaseException, after_effect: bool = False
    ) -> None:
        """Make the next call of ``operation`` raise ``exception`` in the caller's process:
        a read timeout, or a crash (an exception the handler does not catch)."""
        self._faults.setdefault(operation, []).append((exception, after_effect))

    def set_quota(self, instance_type: str, instances: int, spot: bool = False) -> None:
        """Grant the account ``instances`` of ``instance_type`` for training jobs (spot ones
        with ``spot``), as a quota increase would."""
        with self._lock:
            self.quotas.grant(training_quota_name(instance_type, spot), instances)

    def training_instances_in_use(self, spot: bool = False) -> Counter[str]:
        """Instances held by training jobs (``InProgress`` or ``Stopping``), by type: the
        managed spot ones with ``spot``, the on-demand ones without."""
        in_use: Counter[str] = Counter()
        with self._lock:
            for job in (self.jobs[key] for key in self._active):
                if _holds_instances(job) and _spot(job.request) == spot:
                    in_use.update(training_instances(job.request))
        return in_use

    def peaks(
        self, select: Callable[[SimulatedJob], bool] | None = None
    ) -> tuple[int, Counter[str]]:
        """The most jobs, and the most training instances of each type, the account ran at
        once over its history (from each job's create to its end), of those ``select`` keeps:
        what a budget must never have let through."""
        moments: list[tuple[datetime, int, Counter[str]]] = []
        with self._lock:
            for job in self.jobs.values():
                if select is None or select(job):
                    instances = training_instances(job.request)
                    moments.append((job.created, 1, instances))
                    ended = Counter({kind: -count for kind, count in instances.items()})
                    moments.append((job.ended or self.now(), -1, ended))  # or still runs
        jobs, peak_jobs = 0, 0
        running: Counter[str] = Counter()
        peak: Counter[str] = Counter()
        for _, step, instances in sorted(moments, key=lambda moment: moment[:2]):
            jobs += step
            running.update(instances)
            peak_jobs = max(peak_jobs, jobs)
            peak |= +running
        return peak_jobs, peak

    def billed(self, job_type: str, name: str) -> Billed | None:
        """What the job is billed for, computed as DescribeTrainingJob reports it; None
        while it runs, if it never trained, and for AutoML jobs (whose Describe reports
        no times: their compute is their candidates' training jobs, not simulated)."""
        with self._lock:
            return SIMULATED[job_type].billed(self._job(job_type, name))

    def billed_total(self, select: Callable[[SimulatedJob], bool] | None = None) -> Billed:
        """The sum of ``billed`` over the account's jobs (those ``select`` keeps)."""
        total = Billed()
        with self._lock:
            for job in self.jobs.values():
                billed = SIMULATED[job.job_type].billed(job)
                if billed is not None and (select is None or select(job)):
                    total += billed
        return total

    def set_state(
        self,
        job_type: str,
        name: str,
        status: str,
        secondary: str | None = None,
        failure_reason: str | None = None,
        **extra: Any,
    ) -> SimulatedJob:
        """Move a job to a status, as SageMaker would; ``extra`` joins its Describe answer."""
        with self._lock:
            job = self._job(job_type, name)
            now = self._tick(job)
            job.status = status
            job.secondary = secondary or status
            job.failure_reason = failure_reason
            if status in ("Completed", "Failed", "Stopped") and job.ended is None:
                job.ended = now
                if status == "Stopped":
                    self._checkpointed(job)
            if job.transitions:
                job.transitions[-1].setdefault("EndTime", now)
            job.transitions.append(_transition(job.secondary, now))
            if job.ended is not None:  # a real answer's last entry ends when the job does
                job.transitions[-1]["EndTime"] = job.ended
            job.extra.update(extra)
            if status in ("InProgress", "Stopping") or job.plan:
                self._active.add((job_type, name))
            else:
                self._active.discard((job_type, name))
            if self.on_change is not None:
                self.on_change(job)
            return job

    def _checkpointed(self, job: SimulatedJob) -> None:
        """What a stopped job with checkpoints leaves its request's next job: its training
        up to its last checkpoint."""
        minutes = job.tags.get(CHECKPOINT_TAG)
        started = _training_started(job)
        if not minutes or not job.request.get("CheckpointConfig") or started is None:
            return
        period = int(minutes) * 60
        trained = ((job.ended or started) - started).total_seconds()
        self._saved[_request_of(job)] = job.resumed_seconds + trained // period * period

    def complete(self, job_type: str, name: str, **extra: Any) -> SimulatedJob:
        """Walk a job along its documented path to Completed."""
        for status, secondary in SIMULATED[job_type].documented_path[1:]:
            job = self.set_state(job_type, name, status, secondary)
        if extra:
            job.extra.update(extra)
        return job

    def training_event(self, name: str) -> dict[str, Any]:
        """The EventBridge event SageMaker sends for the job's current state, shaped like
        AWS's documented sample: times as epoch-millisecond strings, ``Tags`` as a map."""
        job = self._job("TrainingJob", name)
        detail = _epoch_millis(self._describe(job))
        for member in _DESCRIBE_ONLY:
            detail.pop(member, None)
        detail["Tags"] = job.tags
        return {
            "version": "0",
            "id": f"sim-{job.name}-{len(job.transitions)}",
            "detail-type": job.kind.event_detail_type,
            "source": "aws.sagemaker",
            "account": ACCOUNT,
            "time": job.modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [job.arn],
            "detail": detail,
        }

    def seed_history(
        self, count: int, seed: int = 0, span: timedelta = timedelta(days=365)
    ) -> None:
        """Give the account ``count`` finished jobs of other teams, created over ``span``
        before now: jobs cannot be deleted, so a mature account keeps tens of thousands
        (Autopilot and tuning children count as training jobs too)."""
        rng = random.Random(seed)  # noqa: S311 - a reproducible history, not security
        now = self.now()
        teams = ("vision", "nlp", "forecast", "ranking", "tuning")
        statuses, weights = ("Completed", "Failed", "Stopped"), (85, 10, 5)
        with self._lock:
            for index in range(count):
                job_type: JobType = "AutoMLJob" if index % 25 == 0 else "TrainingJob"
                team = teams[index % len(teams)]
                created = now - span * rng.random()
                ended = min(now, created + timedelta(minutes=rng.randint(5, 600)))
                status = rng.choices(statuses, weights)[0]
                job = self._new_job(
                    job_type,
                    f"{team}-{job_type[:-3].lower()}-{index:06d}",
                    _HISTORY_REQUEST,
                    created,
                )
                job.status = job.secondary = status
                job.modified = job.ended = ended
                if status == "Failed":
                    job.failure_reason = "AlgorithmError: see the job's logs"
                self._add(job)

    # -- the API --------------------------------------------------------------------------

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one API call; raises SageMakerError as SageMaker would answer an error."""
        try:
            return self._handle(operation, params)
        except SageMakerError as exc:
            self.error_answers[exc.code] += 1
            raise

    def _handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            now = self.now()
            self.calls[operation] += 1
            self.calls_by_second[(operation, int(now.timestamp()))] += 1
            self._throttle(operation, now)
            faults = self._faults.get(operation)
            fault, after_effect = faults.pop(0) if faults else (None, False)
            if fault is not None and not after_effect:
                raise fault
            handler = self._handlers.get(operation)
            if handler is None:
                raise SageMakerError("UnknownOperationException", f"{operation} is not simulated")
            problems = spec_problems(operation, params, prefix="") + _tag_problems(params)
            if problems:
                raise SageMakerError("ValidationException", "; ".join(problems))
            answer: dict[str, Any] = handler(params)
            if fault is not None:
                raise fault
            return answer

    def _throttle(self, operation: str, now: datetime) -> None:
        if not self._limits.allow(operation, now):
            raise SageMakerError("ThrottlingException", "Rate exceeded")

    def peak_rate(self, *operations: str) -> int:
        """The most calls of ``operations`` made within one second of the clock."""
        per_second: Counter[int] = Counter()
        for (operation, second), calls in self.calls_by_second.items():
            if operation in operations:
                per_second[second] += calls
        return max(per_second.values(), default=0)

    def attach(self, client: Any) -> Any:
        """Answer this boto3 SageMaker client's calls in-process."""
        return json_api.attach(self, client)

    def _operations(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Each kind's create, describe, stop and list, from the kinds' table."""
        table: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"ListTags": self._tags}
        for kind in KINDS.values():
            table[kind.create] = functools.partial(self._create_answer, kind)
            table[kind.describe] = functools.partial(self._describe_answer, kind)
            table[kind.stop] = functools.partial(self._stop_answer, kind)
            table[kind.list] = functools.partial(self._list, kind.job_type)
        return table

    def _create_answer(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        return {kind.arn_member: self._create(kind.job_type, params).arn}

    def _describe_answer(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._job(kind.job_type, params[kind.name_member]))

    def _stop_answer(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        return self._stop(kind.job_type, params[kind.name_member])

    def _tags(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._by_arn.get(params["ResourceArn"])
        if job is None:
            raise SageMakerError("ResourceNotFound", "Resource not found.")
        return {"Tags": [{"Key": k, "Value": v} for k, v in job.tags.items()]}

    # -- internals ------------------------------------------------------------------------

    def _create(self, job_type: JobType, params: dict[str, Any]) -> SimulatedJob:
        kind = KINDS[job_type]
        name = params[kind.name_member]
        tags = _tag_map(params)
        _check_simulation_tags(tags)
        code, _, times = tags.get(CREATE_ERRORS_TAG, "").partition(":")
        self._create_attempts[(job_type, name)] += 1
        if code and self._create_attempts[(job_type, name)] <= int(times or 1):
            raise SageMakerError(code, f"simulated {code} ({CREATE_ERRORS_TAG})")
        if (job_type, name) in self.jobs:
            raise SageMakerError("ResourceInUse", SIMULATED[job_type].name_in_use)
        if SIMULATED[job_type].limited_by_instance_quotas:
            self._check_instance_quotas(params)
        job = self._new_job(job_type, name, params, self.now())
        job.resumed_seconds = self._saved.get(_request_of(job), 0.0)
        job.plan = planned_path(job_type, self._outcome(job), params)
        if SIMULATED[job_type].may_wait_for_capacity and _waits_for_capacity(name, params):
            job.secondary = "Pending"
            job.plan.insert(0, ("InProgress", "Starting"))
        job.transitions = [_transition(job.secondary, job.created)]
        self._add(job)
        if self.on_change is not None:
            self.on_change(job)
        return job

    def _outcome(self, job: SimulatedJob) -> str:
        """What the job's tags make of it: the first FAILED_TRIES_TAG jobs of its request
        fail, the others take OUTCOME_TAG's outcome (Completed without one)."""
        tags = job.tags
        request = _request_of(job)
        self._tries[request] += 1
        if self._tries[request] <= int(tags.get(FAILED_TRIES_TAG, 0)):
            return "Failed"
        outcome = tags.get(OUTCOME_TAG, "Completed")
        return outcome if outcome in OUTCOMES else "Completed"

    def _check_instance_quotas(self, params: dict[str, Any]) -> None:
        """ResourceLimitExceeded if the account's instances of a type the request asks for,
        with the request's own, would exceed that type's quota."""
        spot = _spot(params)
        in_use = self.training_instances_in_use(spot)
        for instance_type, delta in training_instances(params).items():
            name = training_quota_name(instance_type, spot)
            limit = self.quotas.value(name)
            if in_use[instance_type] + delta > limit:
                message = limit_exceeded(name, limit, in_use[instance_type], delta)
                raise SageMakerError("ResourceLimitExceeded", message)

    def _new_job(
        self, job_type: JobType, name: str, request: dict[str, Any], created: datetime
    ) -> SimulatedJob:
        resource = KINDS[job_type].arn_resource
        return SimulatedJob(
            job_type=job_type,
            name=name,
            arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}/{name.lower()}",
            request=request,
            created=created,
            modified=created,
        )

    def _add(self, job: SimulatedJob) -> None:
        self.jobs[(job.job_type, job.name)] = job
        if job.status in ("InProgress", "Stopping"):
            self._active.add((job.job_type, job.name))
        self._by_arn[job.arn] = job
        for (job_type, sort_by), ordered in self._ordered.items():
            if job_type == job.job_type and sort_by != "Status":
                bisect.insort(ordered, job, key=_SORT_KEYS[sort_by])

    def _job(self, job_type: str, name: str) -> SimulatedJob:
        job = self.jobs.get((job_type, name))
        if job is None:
            code, message = SIMULATED[job_type].not_found
            raise SageMakerError(code, message.format(name=name))
        return job

    def _tick(self, job: SimulatedJob) -> datetime:
        # LastModifiedTime strictly increases per job, however fast a test moves it.
        job.modified = max(self.now(), job.modified + timedelta(milliseconds=1))
        return job.modified

    def _stop(self, job_type: str, name: str) -> dict[str, Any]:
        job = self._job(job_type, name)
        if job.status != "InProgress":
            raise SageMakerError(
                "ValidationException", f"The job status is {job.status}; it cannot be stopped."
            )
        job.plan = []
        self.set_state(job_type, name, "Stopping", "Stopping")
        return {}

    def _list(self, job_type: JobType, params: dict[str, Any]) -> dict[str, Any]:
        """A page in sort order first, then the filters: a page may come back empty, with
        a NextToken, while older jobs remain."""
        kind = KINDS[job_type]
        sort_by = params.get("SortBy", kind.default_sort_by)
        descending = params.get("SortOrder", kind.default_sort_order) == "Descending"
        size = params.get("MaxResults", DEFAULT_MAX_RESULTS)
        ordered = self._in_order(job_type, sort_by)
        key = _SORT_KEYS[sort_by]
        after = _read_token(params.get("NextToken"), sort_by, descending)
        if after is None:
            page = _take(ordered, len(ordered) - 1 if descending else 0, size, descending)
        elif descending:
            page = _take(ordered, bisect.bisect_left(ordered, after, key=key) - 1, size, True)
        else:
            page = _take(ordered, bisect.bisect_right(ordered, after, key=key), size, False)
        last = page[-1] if page else None
        more = last is not None and _has_more(ordered, last, key, descending)
        filters = [(_FILTERS[name], params[name]) for name in _FILTERS if name in params]
        kept = [job for job in page if all(keep(job, value) for keep, value in filters)]
        answer: dict[str, Any] = {kind.summaries_member: [_summary(job) for job in kept]}
        if more and last is not None:
            answer["NextToken"] = _token(key(last), sort_by, descending)
        return answer

    def _in_order(self, job_type: str, sort_by: str) -> list[SimulatedJob]:
        if sort_by == "Status":  # statuses change: sort afresh
            jobs = [job for job in self.jobs.values() if job.job_type == job_type]
            return sorted(jobs, key=_SORT_KEYS[sort_by])
        ordered = self._ordered.get((job_type, sort_by))
        if ordered is None:
            jobs = [job for job in self.jobs.values() if job.job_type == job_type]
            ordered = self._ordered[(job_type, sort_by)] = sorted(jobs, key=_SORT_KEYS[sort_by])
        return ordered

    def _describe(self, job: SimulatedJob) -> dict[str, Any]:
        """DescribeTrainingJob's or DescribeAutoMLJob's answer: what the kind's Describe
        echoes of the request, the job's state, and what only this kind reports."""
        simulated = SIMULATED[job.job_type]
        answer = {key: job.request[key] for key in simulated.echoed if key in job.request}
        answer.update(_state(job))
        answer.update(simulated.details(job))
        answer.update(job.extra)
        return answer


# A finished job of another team needs only what Describe and List read of it.
_HISTORY_REQUEST: dict[str, Any] = {
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/other-team",
    "OutputDataConfig": {"S3OutputPath": "s3://other-team-bucket/output/"},
    "Tags": [{"Key": "team", "Value": "another-team"}],
}


# SageMaker's tag rules (botocore's TagKey and TagValue): letters, digits, spaces and
# "_ . : / = + - @". The model spells them with Java's \p{L}, \p{Z} and \p{N}, which
# Python's re cannot compile (so spec_problems leaves them out); they are checked here
# by Unicode category, as the classes mean.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _request_of(job: SimulatedJob) -> tuple[str, str]:
    """The request a job is a try of: its REQUEST_TAG's value, or its own name."""
    return (job.job_type, job.tags.get(REQUEST_TAG) or job.name)


def _tag_text_allowed(text: str) -> bool:
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN" for ch in text)


def _tag_problems(params: dict[str, Any]) -> list[str]:
    """Each tag key or value off SageMaker's tag pattern, named by field path (no values)."""
    tags = params.get("Tags")
    if not isinstance(tags, list):
        return []
    problems = []
    for index, tag in enumerate(tags):
        for member in ("Key", "Value"):
            text = tag.get(member) if isinstance(tag, dict) else None
            if isinstance(text, str) and not _tag_text_allowed(text):
                pattern = json_api.service_model("sagemaker").shape_for(f"Tag{member}")
                problems.append(
                    f"Tags[{index}].{member}: does not match the pattern "
                    f"{pattern.metadata['pattern']}"
                )
    return problems


def _tag_map(request: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in request.get("Tags", [])}


def _check_simulation_tags(tags: dict[str, str]) -> None:
    """The simulator's own tags must say something it understands: a misspelt control
    would quietly run a test or benchmark on other outcomes than it asked for. (Real
    SageMaker keeps any tag; this ValidationException is the simulator's.)"""
    rules = {
        FAILED_TRIES_TAG: ("[0-9]+", "a number of jobs (0, 1, 2...)"),
        CREATE_ERRORS_TAG: ("[A-Za-z]+(:[0-9]+)?", "an error code and a number of creates"),
        SPOT_SAVINGS_TAG: (
            "[0-9]|[1-8][0-9]|90",
            f"a whole percent from 0 to {MAX_SPOT_SAVINGS_PERCENT}",
        ),
        CHECKPOINT_TAG: ("[1-9][0-9]*", "a whole number of minutes (1 or more)"),
    }
    for key, (pattern, meaning) in rules.items():
        value = tags.get(key)
        if value is not None and not re.fullmatch(pattern, value, re.ASCII):
            raise SageMakerError("ValidationException", f"{key} must be {meaning}")


def _failure_reason(request: dict[str, Any]) -> str:
    return _tag_map(request).get(FAILURE_REASON_TAG) or DEFAULT_FAILURE_REASON


def _reason(job: SimulatedJob, secondary: str) -> str | None:
    """The FailureReason of a job that reaches ``secondary`` along its planned path."""
    if secondary == "Failed":
        return _failure_reason(job.request)
    if secondary == "ExplainabilityError":
        return "simulated explainability failure"
    return None


def _spot(request: dict[str, Any]) -> bool:
    return bool(request.get("EnableManagedSpotTraining"))


def _holds_instances(job: SimulatedJob) -> bool:
    """A running or stopping job holds its instances; a finished one holds none."""
    counted = SIMULATED[job.job_type].limited_by_instance_quotas
    return counted and job.status in ("InProgress", "Stopping")


def _waits_for_capacity(name: str, params: dict[str, Any]) -> bool:
    if (params.get("ResourceConfig") or {}).get("TrainingPlanArn"):
        return True
    return zlib.crc32(name.encode()) % PENDING_SHARE == 0


def _warm_pool_status(job: SimulatedJob) -> dict[str, Any] | None:
    keep_alive = (job.request.get("ResourceConfig") or {}).get("KeepAlivePeriodInSeconds")
    if not keep_alive or job.status != "Completed":
        return None
    return {"Status": "Available"}


def _state(job: SimulatedJob) -> dict[str, Any]:
    """What every Describe answer and List summary says of a job, in its kind's names."""
    kind = job.kind
    state: dict[str, Any] = {
        kind.name_member: job.name,
        kind.arn_member: job.arn,
        kind.status_member: job.status,
        kind.secondary_member: job.secondary,
        "CreationTime": job.created,
        "LastModifiedTime": job.modified,
    }
    if job.ended:
        state[kind.ended_member] = job.ended
    if job.failure_reason:
        state["FailureReason"] = job.failure_reason
    return state


def _summary(job: SimulatedJob) -> dict[str, Any]:
    summary = _state(job)
    if not SIMULATED[job.job_type].summary_has_reason:
        summary.pop("FailureReason", None)
    summary.update(SIMULATED[job.job_type].summary_details(job))
    return summary


def _training_started(job: SimulatedJob) -> datetime | None:
    """TrainingStartTime: when the job first went on its instances, if it has."""
    for transition in job.transitions:
        if transition["Status"] in ON_INSTANCES:
            return transition["StartTime"]  # type: ignore[no-any-return]
    return None


def _training_billed(job: SimulatedJob) -> Billed | None:
    started = _training_started(job)
    if job.ended is None or started is None:
        return None
    training = max(1, int((job.ended - started).total_seconds()))
    billable = training
    if _spot(job.request):
        saving = int(job.tags.get(SPOT_SAVINGS_TAG, DEFAULT_SPOT_SAVINGS_PERCENT))
        billable = max(1, (training * (100 - saving) + 50) // 100)
    instances = sum(training_instances(job.request).values())
    return Billed(training, billable, billable * instances)


def _transition(status: str, at: datetime) -> dict[str, Any]:
    """A SecondaryStatusTransitions entry, as SageMaker starts it (EndTime comes later)."""
    return {"Status": status, "StartTime": at, "StatusMessage": STATUS_MESSAGES.get(status, status)}


def _training_details(job: SimulatedJob) -> dict[str, Any]:
    details: dict[str, Any] = {"SecondaryStatusTransitions": list(job.transitions)}
    details.update({key: job.request.get(key, value) for key, value in TRAINING_DEFAULTS.items()})
    details["OutputDataConfig"] = {**OUTPUT_DEFAULTS, **job.request["OutputDataConfig"]}
    details.update(_training_summary_details(job))
    started = _training_started(job)
    if started is not None:
        details["TrainingStartTime"] = started
    billed = _training_billed(job)
    if billed is not None:
        details["TrainingTimeInSeconds"] = billed.training_seconds
        details["BillableTimeInSeconds"] = billed.billable_seconds
    if job.status == "Completed":
        output = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        details["ModelArtifacts"] = {"S3ModelArtifacts": f"{output}/{job.name}/output/model.tar.gz"}
    return details


def _training_summary_details(job: SimulatedJob) -> dict[str, Any]:
    details: dict[str, Any] = {}
    warm_pool = _warm_pool_status(job)
    if warm_pool:
        details["WarmPoolStatus"] = warm_pool
    plan = (job.request.get("ResourceConfig") or {}).get("TrainingPlanArn")
    if plan:
        details["TrainingPlanArn"] = plan
    return details


def _automl_details(job: SimulatedJob) -> dict[str, Any]:
    """What DescribeAutoMLJob adds to the request: the job's settings with SageMaker's
    defaults filled in (AutoML.attach reads them back), the notebooks once the data is
    analysed, and the best candidate once the job completes."""
    config = job.request.get("AutoMLJobConfig") or {}
    details: dict[str, Any] = {
        "AutoMLJobConfig": {
            **config,
            "CompletionCriteria": {
                **AUTOML_COMPLETION_DEFAULTS,
                **(config.get("CompletionCriteria") or {}),
            },
            "SecurityConfig": {
                "EnableInterContainerTrafficEncryption": False,
                **(config.get("SecurityConfig") or {}),
            },
        },
        "GenerateCandidateDefinitionsOnly": job.request.get(
            "GenerateCandidateDefinitionsOnly", False
        ),
        "OutputDataConfig": {"KmsKeyId": "", **job.request["OutputDataConfig"]},
    }
    if job.secondary != "AnalyzingData" and any(
        step["Status"] == "AnalyzingData" for step in job.transitions
    ):
        details.update(_automl_analysed(job, details["AutoMLJobConfig"]))
    if job.status == "Completed":
        details["BestCandidate"] = _best_candidate(job)
    return details


def _automl_analysed(job: SimulatedJob, config: dict[str, Any]) -> dict[str, Any]:
    """What DescribeAutoMLJob reports once the data has been analysed."""
    output = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    notebooks = f"{output}/{job.name}/sagemaker-automl-candidates/notebooks"
    objective = job.request.get("AutoMLJobObjective") or {"MetricName": "F1"}
    return {
        "AutoMLJobArtifacts": {
            "CandidateDefinitionNotebookLocation": f"{notebooks}/CandidateDefinition.ipynb",
            "DataExplorationNotebookLocation": f"{notebooks}/DataExploration.ipynb",
        },
        "ResolvedAttributes": {
            "AutoMLJobObjective": objective,
            "ProblemType": job.request.get("ProblemType", "BinaryClassification"),
            "CompletionCriteria": config["CompletionCriteria"],
        },
    }


def _best_candidate(job: SimulatedJob) -> dict[str, Any]:
    metric = (job.request.get("AutoMLJobObjective") or {}).get("MetricName", "Accuracy")
    return {
        "CandidateName": f"{job.name[:20]}-best-candidate",
        "FinalAutoMLJobObjectiveMetric": {"MetricName": metric, "Value": 0.91},
        "ObjectiveStatus": "Succeeded",
        "CandidateSteps": [],
        "CandidateStatus": "Completed",
        "CreationTime": job.created,
        "EndTime": job.ended or job.modified,
        "LastModifiedTime": job.modified,
    }


@dataclass(frozen=True)
class SimulatedKind:
    """What the simulator does differently for a kind of job (the API's names are in
    ``jobctl.models.kinds``)."""

    documented_path: list[Step]
    plan: Callable[[str, dict[str, Any]], list[Step]]  # its path for an outcome tag
    echoed: tuple[str, ...]  # request members its Describe answers with
    details: Callable[[SimulatedJob], dict[str, Any]]  # what only its Describe reports
    summary_details: Callable[[SimulatedJob], dict[str, Any]]  # what only its summary has
    not_found: tuple[str, str]  # the error code and message for a job it does not know
    name_in_use: str  # ResourceInUse's message
    summary_has_reason: bool  # whether its List summary carries FailureReason
    may_wait_for_capacity: bool  # some of its jobs wait in Pending before they start
    runtime_limited: bool  # SageMaker stops it at MaxRuntimeInSeconds
    limited_by_instance_quotas: bool  # its instances count against the account's quotas
    billed: Callable[[SimulatedJob], Billed | None]  # what its Describe reports it billed


SIMULATED: dict[str, SimulatedKind] = {
    "TrainingJob": SimulatedKind(
        documented_path=TRAINING_PATH,
        plan=_training_plan,
        echoed=(
            "HyperParameters",
            "AlgorithmSpecification",
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
            "Environment",
            "VpcConfig",
            "EnableManagedSpotTraining",
            "CheckpointConfig",
        ),
        details=_training_details,
        summary_details=_training_summary_details,
        # DescribeTrainingJob answers a missing job with ValidationException.
        not_found=("ValidationException", "Requested resource not found."),
        name_in_use="Training job names must be unique within an account",
        summary_has_reason=False,
        may_wait_for_capacity=True,
        runtime_limited=True,
        limited_by_instance_quotas=True,
        billed=_training_billed,
    ),
    "AutoMLJob": SimulatedKind(
        documented_path=AUTOML_PATH,
        plan=_automl_plan,
        echoed=(
            "InputDataConfig",
            "OutputDataConfig",
            "RoleArn",
            "ProblemType",
            "AutoMLJobObjective",
            "AutoMLJobConfig",
        ),
        details=_automl_details,
        summary_details=lambda job: {},
        not_found=("ResourceNotFound", "Job {name} not found."),
        name_in_use="AutoML job names must be unique within an account",
        summary_has_reason=True,
        may_wait_for_capacity=False,
        runtime_limited=False,
        # AutoML picks its own instances; SageMaker's AutoML quota counts jobs (listed in
        # sagemaker_quotas, not simulated), so no AutoML job is refused for instances.
        limited_by_instance_quotas=False,
        billed=lambda job: None,  # DescribeAutoMLJob reports no times
    ),
}


def _take(
    ordered: list[SimulatedJob], start: int, size: int, descending: bool
) -> list[SimulatedJob]:
    if descending:
        return [ordered[i] for i in range(start, max(start - size, -1), -1)]
    return ordered[start : start + size]


def _has_more(
    ordered: list[SimulatedJob],
    last: SimulatedJob,
    key: Callable[[SimulatedJob], tuple[Any, ...]],
    descending: bool,
) -> bool:
    if descending:
        return bisect.bisect_left(ordered, key(last), key=key) > 0
    return bisect.bisect_right(ordered, key(last), key=key) < len(ordered)


def _token(last_key: tuple[Any, ...], sort_by: str, descending: bool) -> str:
    """An opaque NextToken: where the page ended, so jobs created meanwhile don't shift it."""
    raw = json.dumps([sort_by, descending, list(last_key)]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _read_token(token: str | None, sort_by: str, descending: bool) -> tuple[Any, ...] | None:
    if token is None:
        return None
    try:
        token_sort, token_descending, last_key = json.loads(base64.urlsafe_b64decode(token))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise SageMakerError("ValidationException", "Invalid pagination token.") from exc
    if (token_sort, token_descending) != (sort_by, descending):
        raise SageMakerError(
            "ValidationException", "The pagination token does not match the request."
        )
    return tuple(last_key)


def _epoch_millis(value: Any) -> Any:
    """EventBridge's SageMaker events carry times as epoch milliseconds, in strings."""
    if isinstance(value, datetime):
        return str(int(value.timestamp() * 1000))
    if isinstance(value, dict):
        return {k: _epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(v) for v in value]
    return value
