"""Settings, parsed once per container from the environment (docs/contract.md §2).

``os.environ`` is read here and nowhere else. A missing required setting fails at cold
start with its name, instead of surfacing later as a confusing AWS error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class SettingsError(RuntimeError):
    """The environment does not configure the controller completely."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs_table: str = Field(min_length=1, alias="JOBS_TABLE")
    idempotency_table: str = Field(min_length=1, alias="IDEMPOTENCY_TABLE")
    notices_topic_arn: str = Field(min_length=1, alias="NOTICES_TOPIC_ARN")
    default_role_arn: str = Field(min_length=1, alias="DEFAULT_ROLE_ARN")
    # Which deployment this is (the template passes its stack's id): the tag that marks
    # the SageMaker jobs it created, so another jobctl stack in the account never adopts
    # or stops them. Letters, digits, "-", "_", "." only: it is a tag value.
    deployment_id: str = Field(
        min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$", alias="DEPLOYMENT_ID"
    )
    allowed_role_arns: frozenset[str] = Field(default=frozenset(), alias="ALLOWED_ROLE_ARNS")
    max_receive_count: int = Field(default=5, ge=1, alias="MAX_RECEIVE_COUNT")
    # How long a claim to publish a notice holds before the sweep may take it over.
    notice_lease_seconds: int = Field(default=300, ge=1, alias="NOTICE_LEASE_SECONDS")
    # "progress": every state change is recorded; "terminal": only outcomes (cheapest).
    tracking_mode: Literal["progress", "terminal"] = Field(
        default="progress", alias="TRACKING_MODE"
    )
    # What one sweep may spend: List calls, Describes of jobs older than the List window,
    # and how far back (seconds) its List scan looks.
    sweep_list_calls: int = Field(default=10, ge=1, alias="SWEEP_LIST_CALLS")
    sweep_describe_calls: int = Field(default=10, ge=0, alias="SWEEP_DESCRIBE_CALLS")
    sweep_list_window_seconds: int = Field(
        default=86_400, ge=600, alias="SWEEP_LIST_WINDOW_SECONDS"
    )
    # This deployment's share of SageMaker's account-wide request rates, in calls per
    # second (every user of the account shares them: Create about 1/s, List about 2/s).
    # Creates default to 0.9/s: a call's network delay varies, and two paced calls that
    # arrive closer than 1 s apart would be throttled.
    sagemaker_create_rate: float = Field(default=0.9, gt=0, alias="SAGEMAKER_CREATE_RATE")
    sagemaker_list_rate: float = Field(default=1.0, gt=0, alias="SAGEMAKER_LIST_RATE")
    sagemaker_describe_rate: float = Field(default=4.0, gt=0, alias="SAGEMAKER_DESCRIBE_RATE")
    # The jobs queue's event source runs at most this many SubmitFunction invocations at
    # once: each spends its part of the create rate.
    submit_max_concurrency: int = Field(default=2, ge=1, alias="SUBMIT_MAX_CONCURRENCY")
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60, alias="IDEMPOTENCY_TTL_SECONDS")
    # Capacity-aware admission (optional): most jobs running at once, overall (0: no limit)
    # and per instance type ("ml.p4d.24xlarge=2,ml.g5.xlarge=8").
    concurrency_budget: int = Field(default=0, ge=0, alias="CONCURRENCY_BUDGET")
    instance_type_budgets: dict[str, int] = Field(default={}, alias="INSTANCE_TYPE_BUDGETS")
    # Where a request waiting for capacity is sent back to (the jobs queue).
    jobs_queue_url: str | None = Field(default=None, alias="JOBS_QUEUE_URL")
    defer_base_seconds: int = Field(default=30, ge=1, le=900, alias="DEFER_BASE_SECONDS")

    @field_validator("instance_type_budgets", mode="before")
    @classmethod
    def _parse_budgets(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        budgets = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            instance_type, separator, limit = entry.partition("=")
            if not separator or not limit.strip().isdigit():
                raise ValueError(f"expected instance-type=count, got {entry!r}")
            budgets[instance_type.strip()] = int(limit)
        return budgets

    @model_validator(mode="after")
    def _budgets_need_the_queue(self) -> Settings:
        if self.has_budget and not self.jobs_queue_url:
            raise ValueError("JOBS_QUEUE_URL is required when a concurrency budget is set")
        return self

    @property
    def has_budget(self) -> bool:
        return bool(self.concurrency_budget or self.instance_type_budgets)

    @field_validator("allowed_role_arns", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(arn.strip() for arn in value.split(",") if arn.strip())
        return value

    @property
    def permitted_role_arns(self) -> frozenset[str]:
        """Roles a request may name: the default one is always allowed."""
        return self.allowed_role_arns | {self.default_role_arn}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        try:
            return cls.model_validate(dict(environ))
        except ValidationError as exc:
            problems = ", ".join(
                f"{'.'.join(str(p) for p in err['loc'])} ({err['msg']})" for err in exc.errors()
            )
            raise SettingsError(f"jobctl is not configured: {problems}") from exc


@cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
