"""The events that invoke the reconciler (docs/contract.md §2, §6).

Deliberately lenient about envelope fields (``account``, ``region``, ``id``): an event
only has to say which job to look at. Anything else is malformed and dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

TRAINING_STATE_CHANGE = "SageMaker Training Job State Change"


# AWS's documented sample carries times as epoch milliseconds in strings; numbers are
# read too.
EpochMillis = str | int | float


class TrainingJobDetail(BaseModel):
    """What the reconciler reads of SageMaker's snapshot of the job (docs/contract.md §6); the rest,
    ``Environment`` and ``HyperParameters`` among it, is dropped here."""

    model_config = ConfigDict(extra="ignore")

    TrainingJobName: str = Field(min_length=1, max_length=63)
    TrainingJobStatus: str = Field(min_length=1)
    TrainingJobArn: str | None = None
    SecondaryStatus: str | None = None
    FailureReason: str | None = None
    CreationTime: EpochMillis | None = None
    LastModifiedTime: EpochMillis | None = None
    TrainingEndTime: EpochMillis | None = None
    Tags: dict[str, str] | None = None


class TrainingJobStateChange(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Training Job State Change"] = Field(alias="detail-type")
    detail: TrainingJobDetail


class ScheduledEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


ReconcileEvent = TrainingJobStateChange | ScheduledEvent


class MalformedEvent(ValueError):
    """Not an event the reconciler understands; logged and dropped, never retried."""


def parse_reconcile_event(event: Any) -> ReconcileEvent:
    if not isinstance(event, dict):
        raise MalformedEvent("the event is not a JSON object")
    model: type[ReconcileEvent] = (
        ScheduledEvent if event.get("source") == "aws.events" else TrainingJobStateChange
    )
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        raise MalformedEvent(f"unexpected or missing fields: {', '.join(fields)}") from exc
