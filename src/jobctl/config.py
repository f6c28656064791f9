"""Settings, parsed once per container from the environment (docs/contract.md §2).

``os.environ`` is read here and nowhere else. A missing required setting fails at cold
start with its name, instead of surfacing later as a confusing AWS error.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from jobctl.logic.quotas import DEFAULT_MAX_PREEMPTIONS, Quotas, Sharing
from jobctl.models.requests import NO_RETRY, RetryPolicy


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
    # Scheduling (docs/contract.md §8; optional): most jobs running at once (0: no limit);
    # most instances per type ("ml.p4d.24xlarge=2,ml.g5.xlarge=8"; "auto" reads the
    # account's SageMaker quotas, and types named beside it lower theirs); share weights
    # ("research=2,prod=3"; others weigh 1); most jobs of a share running at once.
    concurrency_budget: int = Field(default=0, ge=0, alias="CONCURRENCY_BUDGET")
    instance_type_budgets: dict[str, int] = Field(default={}, alias="INSTANCE_TYPE_BUDGETS")
    instance_quotas_auto: bool = False  # set by INSTANCE_TYPE_BUDGETS=auto
    share_weights: dict[str, float] = Field(default={}, alias="SHARE_WEIGHTS")
    share_limits: dict[str, int] = Field(default={}, alias="SHARE_LIMITS")
    # How fast a share's past use is forgotten (0: only what runs now counts); the
    # waiting room's bounds; and, if set, the only shares a request may name.
    share_half_life_seconds: int = Field(
        default=3600, ge=0, le=604_800, alias="SHARE_HALF_LIFE_SECONDS"
    )
    max_waiting_jobs: int = Field(default=20_000, ge=1, alias="MAX_WAITING_JOBS")
    max_waiting_shares: int = Field(default=100, ge=1, alias="MAX_WAITING_SHARES")
    shares: frozenset[str] = Field(default=frozenset(), alias="SHARES")
    # Where an admitted job's request is sent to be created (the jobs queue).
    jobs_queue_url: str | None = Field(default=None, alias="JOBS_QUEUE_URL")
    # Retries (docs/contract.md §9): how failed jobs are tried again when a request does
    # not say (the request's JSON), and US dollars per instance-hour by instance type
    # ("ml.m5.xlarge=0.23,ml.p4d.24xlarge=37.69") for estimated costs.
    default_retry: RetryPolicy = Field(default=NO_RETRY, alias="DEFAULT_RETRY")
    # Guaranteed quotas (docs/contract.md §10): instances of a type guaranteed to a share
    # ("research:ml.p4d.24xlarge=4,prod:ml.p4d.24xlarge=4"); per share, whether it lends
    # and borrows ("prod=reserve,research=lend_and_borrow"); whether a waiting job may
    # preempt a lower-priority job of its own share; how often a job may be preempted.
    share_quotas: dict[str, dict[str, int]] = Field(default={}, alias="SHARE_QUOTAS")
    share_sharing: dict[str, Sharing] = Field(default={}, alias="SHARE_SHARING")
    preempt_within_share: bool = Field(default=False, alias="PREEMPT_WITHIN_SHARE")
    max_preemptions: int = Field(
        default=DEFAULT_MAX_PREEMPTIONS, ge=0, le=100, alias="MAX_PREEMPTIONS"
    )
    instance_prices: dict[str, float] = Field(default={}, alias="INSTANCE_PRICES")

    @model_validator(mode="before")
    @classmethod
    def _read_auto(cls, data: Any) -> Any:
        budgets = data.get("INSTANCE_TYPE_BUDGETS") if isinstance(data, dict) else None
        if isinstance(budgets, str):
            entries = [part.strip() for part in budgets.split(",") if part.strip()]
            if "auto" in entries:
                entries.remove("auto")
                data = {**data, "INSTANCE_TYPE_BUDGETS": ",".join(entries)}
                data["instance_quotas_auto"] = True
        return data

    @field_validator("instance_type_budgets", "share_limits", mode="before")
    @classmethod
    def _parse_counts(cls, value: object) -> object:
        return _pairs(value, "count", _count)

    @field_validator("share_weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: object) -> object:
        return _pairs(value, "weight", _positive_number)

    @field_validator("instance_prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: object) -> object:
        return _pairs(value, "price", _positive_number)

    @field_validator("share_quotas", mode="before")
    @classmethod
    def _parse_quotas(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        quotas: dict[str, dict[str, int]] = {}
        pairs = cast("dict[str, int]", _pairs(value, "count", _count))
        for name, count in pairs.items():
            share, colon, instance_type = name.partition(":")
            if not colon or not SHARE_NAME.fullmatch(share) or not instance_type:
                raise ValueError(f"expected share:instance_type=count, got {name!r}")
            quotas.setdefault(share, {})[instance_type] = count
        return quotas

    @field_validator("share_sharing", mode="before")
    @classmethod
    def _parse_sharing(cls, value: object) -> object:
        return _pairs(value, "reserve|lend|lend_and_borrow", lambda text: text or None)

    @field_validator("share_sharing")
    @classmethod
    def _sharing_shares(cls, value: dict[str, Any]) -> dict[str, Any]:
        for share in value:
            if not SHARE_NAME.fullmatch(share):
                raise ValueError(f"{share!r} is not a share name ([A-Za-z0-9_-]{{1,64}})")
        return value

    @field_validator("default_retry", mode="before")
    @classmethod
    def _parse_retry(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return NO_RETRY
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON ({exc.msg} at position {exc.pos})") from None
        return value

    @field_validator("share_weights", "share_limits")
    @classmethod
    def _share_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for share, amount in value.items():
            if not SHARE_NAME.fullmatch(share):
                raise ValueError(f"{share!r} is not a share name ([A-Za-z0-9_-]{{1,64}})")
            if amount <= 0:
                raise ValueError(f"{share}: must be more than 0")
        return value

    @model_validator(mode="after")
    def _scheduling_needs_the_queue(self) -> Settings:
        if self.schedules and not self.jobs_queue_url:
            raise ValueError("JOBS_QUEUE_URL is required when a budget or share limit is set")
        if self.default_retry.attempts > 1 and not self.jobs_queue_url:
            raise ValueError("JOBS_QUEUE_URL is required when DEFAULT_RETRY retries")
        if self.share_quotas and not self.instance_quotas_auto:
            quotas = Quotas(guaranteed=self.share_quotas)
            problems = quotas.problems(self.instance_type_budgets)
            if problems:
                raise ValueError("SHARE_QUOTAS: " + "; ".join(problems))
        return self

    @property
    def schedules(self) -> bool:
        """Whether jobs may have to wait for capacity (any budget or share limit set)."""
        return bool(
            self.concurrency_budget
            or self.instance_type_budgets
            or self.instance_quotas_auto
            or self.share_limits
        )

    @field_validator("shares")
    @classmethod
    def _known_shares(cls, value: frozenset[str]) -> frozenset[str]:
        for share in value:
            if not SHARE_NAME.fullmatch(share):
                raise ValueError(f"{share!r} is not a share name ([A-Za-z0-9_-]{{1,64}})")
        return value

    @field_validator("allowed_role_arns", "shares", mode="before")
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
                f"{'.'.join(str(p) for p in err['loc'])} ({err['msg']})"
                if err["loc"]
                else err["msg"].removeprefix("Value error, ")
                for err in exc.errors()
            )
            raise SettingsError(f"jobctl is not configured: {problems}") from exc


SHARE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _positive_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _pairs(value: object, what: str, convert: Callable[[str], Any]) -> object:
    """``"a=1,b=2"`` as a dict; an entry that is not ``name=<what>`` is an error naming it."""
    if not isinstance(value, str):
        return value
    pairs = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, separator, text = entry.partition("=")
        amount = convert(text.strip()) if separator else None
        if not name.strip() or amount is None:
            raise ValueError(f"expected name={what}, got {entry!r}")
        pairs[name.strip()] = amount
    return pairs


@cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
