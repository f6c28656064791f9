"""A simulated Amazon SageMaker for training and AutoML (v1) jobs.

It is the local stack's stand-in for SageMaker and the one fake every test shares.
Requests are checked against botocore's own service model (maximum lengths and
patterns included), jobs move through SageMaker's documented statuses when told to,
``Environment`` is echoed back by DescribeTrainingJob, and any operation can be made to
fail on demand (throttling, capacity, 5xx) — the things moto's SageMaker cannot do.

``attach(client)`` serves a real boto3 client in-process: botocore builds and checks
the request as usual, and this simulator answers instead of the network.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore import parsers
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel

from jobctl.logic.spec_validation import spec_problems

ACCOUNT = "123456789012"
REGION = "us-east-1"
# A job's (primary, secondary) path to a normal end, in SageMaker's documented order.
TRAINING_PATH = [
    ("InProgress", "Starting"),
    ("InProgress", "Downloading"),
    ("InProgress", "Training"),
    ("InProgress", "Uploading"),
    ("Completed", "Completed"),
]
AUTOML_PATH = [
    ("InProgress", "Starting"),
    ("InProgress", "AnalyzingData"),
    ("InProgress", "FeatureEngineering"),
    ("InProgress", "ModelTuning"),
    ("InProgress", "GeneratingExplainabilityReport"),
    ("Completed", "Completed"),
]
_STATUS = {"ResourceNotFound": 400, "InternalFailure": 500, "ServiceUnavailable": 503}
# Users choose a simulated job's outcome with this tag on the request, e.g.
# {"Key": "jobctl-sim:outcome", "Value": "Failed"}; real SageMaker just keeps the tag.
OUTCOME_TAG = "jobctl-sim:outcome"
# "Hang" keeps a job training until it is stopped: a long job, to rehearse stops and alarms.
OUTCOMES = ("Completed", "Failed", "ExplainabilityError", "Hang")
# And make its create fail first, e.g. {"Key": "jobctl-sim:create-errors",
# "Value": "ResourceLimitExceeded*5"}: the first five creates of that name answer so.
CREATE_ERRORS_TAG = "jobctl-sim:create-errors"


def planned_path(job_type: str, outcome: str) -> list[tuple[str, str]]:
    """The (primary, secondary) steps a simulated job takes after Starting."""
    path = TRAINING_PATH if job_type == "TrainingJob" else AUTOML_PATH
    steps = path[1:]
    if outcome == "Failed":
        return [*steps[:2], ("Failed", "Failed")]
    if outcome == "Hang":
        return steps[:2]
    if outcome == "ExplainabilityError" and job_type == "AutoMLJob":
        return [*steps[:-1], ("Completed", "ExplainabilityError")]
    return steps


class SageMakerError(Exception):
    """An error answer, as SageMaker gives it: a code, a message and an HTTP status."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status or _STATUS.get(code, 400)


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
    plan: list[tuple[str, str]] = field(default_factory=list)

    @property
    def tags(self) -> dict[str, str]:
        return {t["Key"]: t.get("Value", "") for t in self.request.get("Tags", [])}


class SimulatedSageMaker:
    """Jobs move when a test says so (``set_state``, ``complete``) or, with ``step``, on
    their own: one status every ``step`` of the clock, each time ``advance()`` is called.

    ``on_change(job)`` is called after every status change; it must not call back into
    the simulator (the local stack queues the event and delivers it from another thread).
    """

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        step: timedelta | None = None,
        on_change: Callable[[SimulatedJob], None] | None = None,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.step = step
        self.on_change = on_change
        self.jobs: dict[tuple[str, str], SimulatedJob] = {}
        self.calls: Counter[str] = Counter()
        self.error_answers: Counter[str] = Counter()
        # Per operation, what the next calls raise, and whether the call takes effect first.
        self._faults: dict[str, list[tuple[BaseException, bool]]] = {}
        self._create_attempts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.RLock()

    def advance(self) -> int:
        """Move every job whose step has elapsed one status further; returns how many moved."""
        if self.step is None:
            return 0
        moved = 0
        with self._lock:
            now = self.clock()
            for job in list(self.jobs.values()):
                if now - job.modified < self.step:
                    continue
                if job.status == "Stopping":
                    self.set_state(job.job_type, job.name, "Stopped", "Stopped")
                elif job.status == "InProgress" and job.plan:
                    status, secondary = job.plan.pop(0)
                    reason = (
                        f"AlgorithmError: simulated failure ({OUTCOME_TAG}=Failed)"
                        if status == "Failed"
                        else "simulated explainability failure"
                        if secondary == "ExplainabilityError"
                        else None
                    )
                    self.set_state(job.job_type, job.name, status, secondary, reason)
                else:
                    continue
                moved += 1
        return moved

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
            job.transitions.append({"Status": job.secondary, "StartTime": now})
            job.extra.update(extra)
            if self.on_change is not None:
                self.on_change(job)
            return job

    def complete(self, job_type: str, name: str, **extra: Any) -> SimulatedJob:
        """Walk a job along its documented path to Completed."""
        path = TRAINING_PATH if job_type == "TrainingJob" else AUTOML_PATH
        for status, secondary in path[1:]:
            job = self.set_state(job_type, name, status, secondary)
        if extra:
            job.extra.update(extra)
        return job

    def training_event(self, name: str) -> dict[str, Any]:
        """The EventBridge event SageMaker sends for the job's current state."""
        job = self._job("TrainingJob", name)
        detail = _epoch_millis(self._describe_training(job))
        return {
            "version": "0",
            "id": f"sim-{job.name}-{len(job.transitions)}",
            "detail-type": "SageMaker Training Job State Change",
            "source": "aws.sagemaker",
            "account": ACCOUNT,
            "time": job.modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [job.arn],
            "detail": detail,
        }

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
            self.calls[operation] += 1
            faults = self._faults.get(operation)
            fault, after_effect = faults.pop(0) if faults else (None, False)
            if fault is not None and not after_effect:
                raise fault
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                raise SageMakerError("UnknownOperationException", f"{operation} is not simulated")
            problems = spec_problems(operation, params, prefix="")
            if problems:
                raise SageMakerError("ValidationException", "; ".join(problems))
            answer: dict[str, Any] = handler(params)
            if fault is not None:
                raise fault
            return answer

    def attach(self, client: Any) -> Any:
        """Answer this boto3 SageMaker client's calls in-process."""
        client.meta.events.register("before-call.sagemaker", self._answer_botocore_call)
        return client

    def _answer_botocore_call(
        self, model: OperationModel, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]]:
        request = decode_request(model, params["body"])
        try:
            answer, status = self.handle(model.name, request), 200
        except SageMakerError as exc:
            answer = {"Error": {"Code": exc.code, "Message": exc.message}}
            status = exc.status
        answer["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "simulated"}
        return AWSResponse("https://sagemaker.simulated", status, HTTPHeaders(), None), answer

    def _op_CreateTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "TrainingJobArn": self._create("TrainingJob", params["TrainingJobName"], params).arn
        }

    def _op_CreateAutoMLJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"AutoMLJobArn": self._create("AutoMLJob", params["AutoMLJobName"], params).arn}

    def _op_DescribeTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe_training(self._job("TrainingJob", params["TrainingJobName"]))

    def _op_DescribeAutoMLJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe_automl(self._job("AutoMLJob", params["AutoMLJobName"]))

    def _op_StopTrainingJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._stop("TrainingJob", params["TrainingJobName"])

    def _op_StopAutoMLJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._stop("AutoMLJob", params["AutoMLJobName"])

    def _op_ListTrainingJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("TrainingJob", params)
        summaries = [
            {
                "TrainingJobName": job.name,
                "TrainingJobArn": job.arn,
                "CreationTime": job.created,
                "LastModifiedTime": job.modified,
                "TrainingJobStatus": job.status,
                "SecondaryStatus": job.secondary,
                **({"TrainingEndTime": job.ended} if job.ended else {}),
            }
            for job in page
        ]
        return {"TrainingJobSummaries": summaries, **token}

    def _op_ListAutoMLJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._list("AutoMLJob", params)
        summaries = [
            {
                "AutoMLJobName": job.name,
                "AutoMLJobArn": job.arn,
                "AutoMLJobStatus": job.status,
                "AutoMLJobSecondaryStatus": job.secondary,
                "CreationTime": job.created,
                "LastModifiedTime": job.modified,
                **({"EndTime": job.ended} if job.ended else {}),
                **({"FailureReason": job.failure_reason} if job.failure_reason else {}),
            }
            for job in page
        ]
        return {"AutoMLJobSummaries": summaries, **token}

    def _op_ListTags(self, params: dict[str, Any]) -> dict[str, Any]:
        for job in self.jobs.values():
            if job.arn == params["ResourceArn"]:
                return {"Tags": [{"Key": k, "Value": v} for k, v in job.tags.items()]}
        raise SageMakerError("ResourceNotFound", "Resource not found.")

    # -- internals ------------------------------------------------------------------------

    def _create(self, job_type: str, name: str, params: dict[str, Any]) -> SimulatedJob:
        tags = {t["Key"]: t.get("Value", "") for t in params.get("Tags", [])}
        code, _, times = tags.get(CREATE_ERRORS_TAG, "").partition("*")
        self._create_attempts[(job_type, name)] += 1
        if code and self._create_attempts[(job_type, name)] <= int(times or 1):
            raise SageMakerError(code, f"simulated {code} ({CREATE_ERRORS_TAG})")
        if (job_type, name) in self.jobs:
            kind = "Training job" if job_type == "TrainingJob" else "AutoML job"
            raise SageMakerError("ResourceInUse", f"{kind} names must be unique within an account")
        now = self.clock()
        resource = "training-job" if job_type == "TrainingJob" else "automl-job"
        job = SimulatedJob(
            job_type=job_type,
            name=name,
            arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{resource}/{name.lower()}",
            request=params,
            created=now,
            modified=now,
            transitions=[{"Status": "Starting", "StartTime": now}],
        )
        outcome = job.tags.get(OUTCOME_TAG, "Completed")
        job.plan = planned_path(job_type, outcome if outcome in OUTCOMES else "Completed")
        self.jobs[(job_type, name)] = job
        if self.on_change is not None:
            self.on_change(job)
        return job

    def _job(self, job_type: str, name: str) -> SimulatedJob:
        job = self.jobs.get((job_type, name))
        if job is None:
            if job_type == "TrainingJob":
                raise SageMakerError("ValidationException", "Requested resource not found.")
            raise SageMakerError("ResourceNotFound", f"Job {name} not found.")
        return job

    def _tick(self, job: SimulatedJob) -> datetime:
        # LastModifiedTime strictly increases per job, however fast a test moves it.
        job.modified = max(self.clock(), job.modified + timedelta(milliseconds=1))
        return job.modified

    def _stop(self, job_type: str, name: str) -> dict[str, Any]:
        job = self._job(job_type, name)
        if job.status != "InProgress":
            raise SageMakerError(
                "ValidationException", f"The job status is {job.status}; it cannot be stopped."
            )
        self.set_state(job_type, name, "Stopping", "Stopping")
        return {}

    def _list(
        self, job_type: str, params: dict[str, Any]
    ) -> tuple[list[SimulatedJob], dict[str, str]]:
        after = params.get("LastModifiedTimeAfter")
        jobs = sorted(
            (
                job
                for job in self.jobs.values()
                if job.job_type == job_type
                and (after is None or job.modified > after)
                and params.get("StatusEquals", job.status) == job.status
            ),
            key=lambda job: job.created,
            reverse=params.get("SortOrder", "Descending") == "Descending",
        )
        start = int(params.get("NextToken", "0"))
        size = params.get("MaxResults", 10)
        page = jobs[start : start + size]
        more = start + size < len(jobs)
        return page, ({"NextToken": str(start + size)} if more else {})

    def _describe_training(self, job: SimulatedJob) -> dict[str, Any]:
        request = job.request
        answer: dict[str, Any] = {
            key: request[key]
            for key in (
                "HyperParameters",
                "AlgorithmSpecification",
                "RoleArn",
                "InputDataConfig",
                "OutputDataConfig",
                "ResourceConfig",
                "StoppingCondition",
                "Environment",
                "VpcConfig",
            )
            if key in request
        }
        answer.update(
            TrainingJobName=job.name,
            TrainingJobArn=job.arn,
            TrainingJobStatus=job.status,
            SecondaryStatus=job.secondary,
            CreationTime=job.created,
            LastModifiedTime=job.modified,
            SecondaryStatusTransitions=list(job.transitions),
        )
        if job.failure_reason:
            answer["FailureReason"] = job.failure_reason
        if job.ended:
            answer["TrainingEndTime"] = job.ended
        if job.status == "Completed":
            output = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
            answer["ModelArtifacts"] = {
                "S3ModelArtifacts": f"{output}/{job.name}/output/model.tar.gz"
            }
        answer.update(job.extra)
        return answer

    def _describe_automl(self, job: SimulatedJob) -> dict[str, Any]:
        request = job.request
        answer: dict[str, Any] = {
            key: request[key]
            for key in (
                "InputDataConfig",
                "OutputDataConfig",
                "RoleArn",
                "ProblemType",
                "AutoMLJobObjective",
                "AutoMLJobConfig",
            )
            if key in request
        }
        answer.update(
            AutoMLJobName=job.name,
            AutoMLJobArn=job.arn,
            AutoMLJobStatus=job.status,
            AutoMLJobSecondaryStatus=job.secondary,
            CreationTime=job.created,
            LastModifiedTime=job.modified,
        )
        if job.failure_reason:
            answer["FailureReason"] = job.failure_reason
        if job.ended:
            answer["EndTime"] = job.ended
        if job.status == "Completed":
            metric = (request.get("AutoMLJobObjective") or {}).get("MetricName", "Accuracy")
            answer["BestCandidate"] = {
                "CandidateName": f"{job.name[:20]}-best-candidate",
                "FinalAutoMLJobObjectiveMetric": {"MetricName": metric, "Value": 0.91},
                "ObjectiveStatus": "Succeeded",
                "CandidateSteps": [],
                "CandidateStatus": "Completed",
                "CreationTime": job.created,
                "LastModifiedTime": job.modified,
            }
        answer.update(job.extra)
        return answer


def decode_request(model: OperationModel, body: bytes | None) -> dict[str, Any]:
    """A JSON 1.1 request body as API parameters (timestamps as datetimes), using botocore's
    own parser on the operation's input shape."""
    shape = model.input_shape
    if shape is None:
        return {}
    request: dict[str, Any] = parsers.create_parser("json").parse(
        {"body": body or b"{}", "headers": {}, "status_code": 200}, shape
    )
    request.pop("ResponseMetadata", None)
    return request


def _epoch_millis(value: Any) -> Any:
    """EventBridge's SageMaker events carry times as epoch milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(v) for v in value]
    return value
