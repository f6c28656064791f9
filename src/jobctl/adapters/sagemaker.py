"""SageMaker behind the ``SageMakerGateway`` interface: calls, answers, and error codes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import error_code, error_message, translated
from jobctl.errors import InvalidRequest, JobAlreadyExists, JobNotFound
from jobctl.models.jobs import Observation
from jobctl.models.requests import JobType

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})


def _is_not_found(exc: ClientError) -> bool:
    # DescribeTrainingJob answers a missing job with ValidationException, not ResourceNotFound.
    return error_code(exc) in _NOT_FOUND_CODES or (
        error_code(exc) == "ValidationException" and "not found" in error_message(exc).lower()
    )


class SageMakerAdapter:
    def __init__(self, client: SageMakerClient) -> None:
        self._client = client

    def create_job(self, job_type: JobType, params: dict[str, Any]) -> str:
        try:
            if job_type == "TrainingJob":
                return self._client.create_training_job(**params)["TrainingJobArn"]
            return self._client.create_auto_ml_job(**params)["AutoMLJobArn"]
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceInUse":
                raise JobAlreadyExists(
                    params.get("TrainingJobName") or params["AutoMLJobName"]
                ) from exc
            if code == "ValidationException":
                raise InvalidRequest(
                    [f"SageMaker rejected the request: {error_message(exc)}"]
                ) from exc
            raise self._unexpected(exc) from exc
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc

    def describe_job(self, job_type: JobType, job_name: str) -> Observation:
        try:
            if job_type == "TrainingJob":
                return training_observation(
                    self._client.describe_training_job(TrainingJobName=job_name)
                )
            return automl_observation(self._client.describe_auto_ml_job(AutoMLJobName=job_name))
        except ClientError as exc:
            if _is_not_found(exc):
                raise JobNotFound(job_name) from exc
            raise self._unexpected(exc) from exc
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc

    def job_tags(self, job_arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        try:
            for page in self._client.get_paginator("list_tags").paginate(ResourceArn=job_arn):
                tags.update({tag["Key"]: tag.get("Value", "") for tag in page.get("Tags", [])})
        except (ClientError, BotoCoreError) as exc:
            raise self._unexpected(exc) from exc
        return tags

    def stop_job(self, job_type: JobType, job_name: str) -> None:
        try:
            if job_type == "TrainingJob":
                self._client.stop_training_job(TrainingJobName=job_name)
            else:
                self._client.stop_auto_ml_job(AutoMLJobName=job_name)
        except ClientError as exc:
            # A job that already ended, or is already stopping, answers ValidationException.
            if error_code(exc) == "ValidationException" or _is_not_found(exc):
                return
            raise self._unexpected(exc) from exc
        except BotoCoreError as exc:
            raise self._unexpected(exc) from exc

    def changed_jobs(self, job_type: JobType, since: datetime) -> Iterator[Observation]:
        operation, key, parse = (
            ("list_training_jobs", "TrainingJobSummaries", training_observation)
            if job_type == "TrainingJob"
            else ("list_auto_ml_jobs", "AutoMLJobSummaries", automl_observation)
        )
        try:
            pages = self._client.get_paginator(operation).paginate(  # type: ignore[call-overload]
                LastModifiedTimeAfter=since, PaginationConfig={"PageSize": 100}
            )
            for page in pages:
                for summary in page.get(key, []):
                    yield parse(summary).model_copy(update={"complete": False})
        except (ClientError, BotoCoreError) as exc:
            raise self._unexpected(exc) from exc

    @staticmethod
    def _unexpected(exc: Exception) -> Exception:
        return translated(exc, "SageMaker")


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):  # EventBridge detail: epoch milliseconds
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def training_observation(answer: Mapping[str, Any]) -> Observation:
    """An Observation from DescribeTrainingJob, a TrainingJobSummary, or an event's detail."""
    metrics = {m["MetricName"]: m["Value"] for m in answer.get("FinalMetricDataList", []) or []}
    artifacts = (answer.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    outputs = (
        {"model_artifacts": artifacts, "final_metrics": metrics} if artifacts or metrics else None
    )
    stopping = answer.get("StoppingCondition") or {}
    return Observation(
        job_name=answer["TrainingJobName"],
        job_type="TrainingJob",
        job_arn=answer.get("TrainingJobArn"),
        primary_status=answer["TrainingJobStatus"],
        secondary_status=answer.get("SecondaryStatus"),
        failure_reason=answer.get("FailureReason"),
        modified_at=_when(answer.get("LastModifiedTime")) or datetime.now(UTC),
        created_at=_when(answer.get("CreationTime")),
        ended_at=_when(answer.get("TrainingEndTime")),
        environment=answer.get("Environment"),
        outputs=outputs,
        max_runtime_seconds=stopping.get("MaxRuntimeInSeconds"),
    )


def automl_observation(answer: Mapping[str, Any]) -> Observation:
    """An Observation from DescribeAutoMLJob or an AutoMLJobSummary."""
    best = answer.get("BestCandidate") or {}
    objective = best.get("FinalAutoMLJobObjectiveMetric") or {}
    outputs = (
        {
            "best_candidate": {
                "name": best.get("CandidateName"),
                "objective_metric_name": objective.get("MetricName"),
                "objective_metric_value": objective.get("Value"),
            }
        }
        if best
        else None
    )
    criteria = (answer.get("AutoMLJobConfig") or {}).get("CompletionCriteria") or {}
    return Observation(
        job_name=answer["AutoMLJobName"],
        job_type="AutoMLJob",
        job_arn=answer.get("AutoMLJobArn"),
        primary_status=answer["AutoMLJobStatus"],
        secondary_status=answer.get("AutoMLJobSecondaryStatus"),
        failure_reason=answer.get("FailureReason"),
        modified_at=_when(answer.get("LastModifiedTime")) or datetime.now(UTC),
        created_at=_when(answer.get("CreationTime")),
        ended_at=_when(answer.get("EndTime")),
        outputs=outputs,
        partial_failures=[
            f["PartialFailureMessage"]
            for f in answer.get("PartialFailureReasons", []) or []
            if f.get("PartialFailureMessage")
        ],
        max_runtime_seconds=criteria.get("MaxAutoMLJobRuntimeInSeconds"),
    )
