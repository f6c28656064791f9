"""SageMaker behind the ``SageMakerGateway`` interface: calls, answers, and error codes.

Every call of a kind of job goes through the names in ``models.kinds``, and every call
waits for its turn under the deployment's share of SageMaker's account-wide rates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import error_code, error_message, is_transient, translated
from jobctl.adapters.pacing import Pacer
from jobctl.errors import (
    ExpiredCursor,
    InvalidRequest,
    JobAlreadyExists,
    JobNotFound,
    RetryableError,
    ServiceRefused,
)
from jobctl.logic.lifecycle import spot_savings_percent
from jobctl.logic.ports import Clock, ListPage
from jobctl.logic.requests import max_runtime_seconds
from jobctl.logic.scheduling import instances_of
from jobctl.models.jobs import Observation, Usage
from jobctl.models.kinds import KINDS, JobKind, JobType
from jobctl.observability import count, scrub, secret_values

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
PAGE_SIZE = 100  # the most a List call returns


@dataclass(frozen=True)
class CallRates:
    """Calls per second this container may make, by kind of call (0: unpaced)."""

    create: float = 0
    list: float = 0
    describe: float = 0
    stop: float = 0


def _is_not_found(exc: ClientError) -> bool:
    # DescribeTrainingJob answers a missing job with ValidationException, not ResourceNotFound.
    return error_code(exc) in _NOT_FOUND_CODES or (
        error_code(exc) == "ValidationException" and "not found" in error_message(exc).lower()
    )


class SageMakerAdapter:
    def __init__(
        self, client: SageMakerClient, clock: Clock, rates: CallRates | None = None
    ) -> None:
        self._client = client
        rates = rates or CallRates()
        self._pacers = {
            name: Pacer(getattr(rates, name), clock)
            for name in ("create", "list", "describe", "stop")
        }

    def _call(self, pace: str, operation: str, **params: Any) -> Any:
        self._pacers[pace].wait()
        try:
            return getattr(self._client, xform_name(operation))(**params)
        except ClientError as exc:
            if "Throttl" in error_code(exc):  # after botocore's own retries (the dashboard)
                count("SageMakerThrottled", operation=operation)
            raise

    def create_job(self, job_type: JobType, params: dict[str, Any]) -> str:
        """SageMaker's answers to a create may echo the request's values, secrets among
        them: what reaches a reason, a notice or a traceback is scrubbed of them, and the
        ClientError (whose text is not) is not chained."""
        kind = KINDS[job_type]
        try:
            return str(self._call("create", kind.create, **params)[kind.arn_member])
        except ClientError as exc:
            code, message = error_code(exc), scrub(error_message(exc), secret_values(params))
            if code == "ResourceInUse":
                raise JobAlreadyExists(params[kind.name_member]) from None
            if code == "ValidationException":
                gist = validation_gist(message)
                raise InvalidRequest([f"SageMaker rejected the request: {gist}"]) from None
            if is_transient(exc):
                raise RetryableError(f"SageMaker: {code}") from None
            raise ServiceRefused(f"SageMaker: {code}: {message}") from None
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc

    def describe_job(self, job_type: JobType, job_name: str) -> Observation:
        kind = KINDS[job_type]
        try:
            answer = self._call("describe", kind.describe, **{kind.name_member: job_name})
        except ClientError as exc:
            if _is_not_found(exc):
                raise JobNotFound(job_name) from exc
            raise self._unexpected(exc) from exc
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc
        return observation(kind, answer)

    def job_tags(self, job_arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        try:
            for page in self._client.get_paginator("list_tags").paginate(ResourceArn=job_arn):
                tags.update({tag["Key"]: tag.get("Value", "") for tag in page.get("Tags", [])})
        except (ClientError, BotoCoreError) as exc:
            raise self._unexpected(exc) from exc
        return tags

    def stop_job(self, job_type: JobType, job_name: str) -> None:
        kind = KINDS[job_type]
        try:
            self._call("stop", kind.stop, **{kind.name_member: job_name})
        except ClientError as exc:
            # A job that already ended, or is already stopping, answers ValidationException.
            if error_code(exc) == "ValidationException" or _is_not_found(exc):
                return
            raise self._unexpected(exc) from exc
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc

    def list_newest(self, job_type: JobType, token: str | None) -> ListPage:
        kind = KINDS[job_type]
        # The sort is always explicit: the defaults differ by API (ListTrainingJobs:
        # oldest first, ListAutoMLJobs: by name), and newest first is what bounds a scan.
        params: dict[str, Any] = {
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
            "MaxResults": PAGE_SIZE,
        }
        if token is not None:
            params["NextToken"] = token
        try:
            answer = self._call("list", kind.list, **params)
        except ClientError as exc:
            if token is not None and error_code(exc) == "ValidationException":
                raise ExpiredCursor(str(exc)) from exc
            raise self._unexpected(exc) from exc
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc
        summaries = [
            observation(kind, summary) for summary in answer.get(kind.summaries_member, [])
        ]
        return ListPage(summaries, answer.get("NextToken"))

    @staticmethod
    def _unexpected(exc: Exception) -> Exception:
        return translated(exc, "SageMaker")


def _when(value: Any) -> datetime | None:
    """A SageMaker time: a datetime (boto3), or epoch milliseconds (EventBridge's detail,
    as a number or, in AWS's documented sample, a string of digits)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


# SageMaker's validation messages: "... Value '…' at 'resourceConfig.instanceType' failed
# to satisfy constraint: Member must satisfy enum value set: [...]".
_FIELD_PATH = re.compile(r"\bat '([A-Za-z0-9_.\[\]-]{1,200})'")
_CONSTRAINT = re.compile(r"failed to satisfy constraint: ([^;']{1,300})")


def validation_gist(message: str) -> str:
    """The field paths and constraints of a validation message, without its text (which
    quotes values); a message in another form keeps its scrubbed text, cut short."""
    fields = list(dict.fromkeys(_FIELD_PATH.findall(message)))
    constraints = list(dict.fromkeys(c.strip() for c in _CONSTRAINT.findall(message)))
    if not fields:
        return message[:300]
    gist = f"ValidationException at {', '.join(fields)}"
    return f"{gist}: {'; '.join(constraints)}" if constraints else gist


def observation(
    kind: JobKind, answer: Mapping[str, Any], secrets: Iterable[str] = ()
) -> Observation:
    """An Observation from a Describe answer, a List summary or an event's detail.

    A FailureReason may echo the job's Environment or HyperParameters values (built-in
    algorithms quote hyperparameters): it is scrubbed of those the answer carries, and of
    ``secrets``."""
    reason = answer.get("FailureReason")
    tags = answer.get("Tags")
    return Observation(
        job_name=answer[kind.name_member],
        job_type=kind.job_type,
        job_arn=answer.get(kind.arn_member),
        primary_status=answer[kind.status_member],
        secondary_status=answer.get(kind.secondary_member),
        failure_reason=scrub(reason, [*secret_values(answer), *secrets]) if reason else None,
        tags=tags if isinstance(tags, dict) else None,
        modified_at=_when(answer.get("LastModifiedTime")) or datetime.now(UTC),
        created_at=_when(answer.get("CreationTime")),
        ended_at=_when(answer.get(kind.ended_member)),
        **_DETAILS[kind.job_type](answer),
    )


def _training_details(answer: Mapping[str, Any]) -> dict[str, Any]:
    metrics = {m["MetricName"]: m["Value"] for m in answer.get("FinalMetricDataList", []) or []}
    artifacts = (answer.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    return {
        "environment": answer.get("Environment"),
        "outputs": (
            {"model_artifacts": artifacts, "final_metrics": metrics}
            if artifacts or metrics
            else None
        ),
        "max_runtime_seconds": max_runtime_seconds(dict(answer)),
        "usage": training_usage(answer),
    }


def training_usage(answer: Mapping[str, Any]) -> Usage | None:
    """What a training job used, from a Describe answer that reports its times (a List
    summary or an event does not)."""
    if "BillableTimeInSeconds" not in answer and "TrainingTimeInSeconds" not in answer:
        return None
    resources = answer.get("ResourceConfig") or {}
    instances = instances_of({"ResourceConfig": resources})
    billable = int(answer.get("BillableTimeInSeconds") or 0)
    training = int(answer.get("TrainingTimeInSeconds") or 0)
    spot = bool(answer.get("EnableManagedSpotTraining"))
    return Usage(
        instance_type=",".join(sorted(instances)) or None,
        instance_count=sum(instances.values()),
        training_seconds=training,
        billable_seconds=billable,
        billable_instance_seconds=billable * sum(instances.values()),
        spot=spot,
        spot_savings_percent=spot_savings_percent(training, billable) if spot else 0.0,
        instances=instances,
    )


def _automl_details(answer: Mapping[str, Any]) -> dict[str, Any]:
    best = answer.get("BestCandidate") or {}
    objective = best.get("FinalAutoMLJobObjectiveMetric") or {}
    criteria = (answer.get("AutoMLJobConfig") or {}).get("CompletionCriteria") or {}
    return {
        "outputs": (
            {
                "best_candidate": {
                    "name": best.get("CandidateName"),
                    "objective_metric_name": objective.get("MetricName"),
                    "objective_metric_value": objective.get("Value"),
                }
            }
            if best
            else None
        ),
        "partial_failures": [
            f["PartialFailureMessage"]
            for f in answer.get("PartialFailureReasons", []) or []
            if f.get("PartialFailureMessage")
        ],
        "max_runtime_seconds": criteria.get("MaxAutoMLJobRuntimeInSeconds"),
    }


# What only one kind's answers carry: a training job's outputs and Environment, an AutoML
# job's best candidate and partial failures.
_DETAILS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "TrainingJob": _training_details,
    "AutoMLJob": _automl_details,
}


def training_observation(answer: Mapping[str, Any], secrets: Iterable[str] = ()) -> Observation:
    """An Observation from DescribeTrainingJob, a TrainingJobSummary, or an event's detail."""
    return observation(KINDS["TrainingJob"], answer, secrets)
