"""The job request: the JSON body of a message on the jobs queue (docs/contract.md §3)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from jobctl.errors import InvalidRequest
from jobctl.models.kinds import JOB_TYPES, KINDS, JobType

__all__ = ["JOB_TYPES", "JobRequest", "JobType", "Priority", "Share", "parse_request"]

Action = Literal["submit", "stop", "update"]
# Scheduling (docs/contract.md §8): priorities 0-9999, higher first; the share a job
# counts against.
MIN_PRIORITY, MAX_PRIORITY = 0, 9999
DEFAULT_SHARE = "default"
# Strict: "5" or 5.0 or true is a mistake to name, not a priority to guess. The CLI
# checks its --priority and --share with these same types.
Priority = Annotated[StrictInt, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)]
Share = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# What an update may change (docs/contract.md §8): a waiting job's priority.
_UPDATE_FIELDS = frozenset({"job_type", "job_name", "request_id", "action", "priority"})

# Retries of failed jobs (docs/contract.md §9): how many tries in all, and the patterns of
# SageMaker's FailureReason worth another try.
MAX_ATTEMPTS = 10
DEFAULT_RETRY_ON = ("CapacityError*", "InternalServerError*")


class RetryPolicy(BaseModel):
    """``{"attempts": N, "on": [patterns]}``; the default is one try, no retry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: StrictInt = Field(default=1, ge=1, le=MAX_ATTEMPTS)
    on: tuple[Annotated[StrictStr, Field(min_length=1, max_length=256)], ...] = Field(
        default=DEFAULT_RETRY_ON, max_length=20
    )


NO_RETRY = RetryPolicy()

# SageMaker's own name rule; the length limit depends on the job type.
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
MAX_JOB_NAME_LENGTH: dict[JobType, int] = {t: kind.name_limit for t, kind in KINDS.items()}
_NAME_HASH_LENGTH = 10
# The shape of a retry's SageMaker job name (docs/contract.md §9, logic.retries.try_name):
# reserved, so no request can take a job's next try's name.
TRY_NAME_PATTERN = re.compile(r"-try[0-9]+-[0-9a-f]{6}$")


def derive_job_name(job_type: JobType, request_id: str) -> str:
    """A valid SageMaker job name that depends only on the request id.

    A readable slug of the id, then a hash of the whole id, so a redelivered request
    gets the same name and two ids with the same slug still get different names.
    """
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:_NAME_HASH_LENGTH]
    room = MAX_JOB_NAME_LENGTH[job_type] - _NAME_HASH_LENGTH - 1
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request_id).strip("-")[:room].rstrip("-")
    return f"{slug}-{digest}" if slug else f"job-{digest}"


class JobRequest(BaseModel):
    """A parsed request; after validation ``job_name`` and ``request_id`` are both set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_type: JobType
    job_name: str | None = Field(default=None, min_length=1, pattern=JOB_NAME_PATTERN.pattern)
    request_id: str | None = Field(default=None, min_length=1, max_length=128)
    action: Action = "submit"
    spec: dict[str, Any] | None = None
    # How the job competes for capacity (docs/contract.md §8).
    priority: Priority | None = None
    share: Share | None = None
    # Tries of a failed job (docs/contract.md §9); None: the stack's DEFAULT_RETRY.
    retry: RetryPolicy | None = None
    # Whether the job may be stopped to give room back (docs/contract.md §10); only a
    # preemptible job borrows room beyond its share's quota.
    preemptible: StrictBool = True
    # Set by the controller, never trusted: the try a retry's wake-up is for. The record
    # decides which try is created; this only keeps each try's wake-up apart from the
    # original request in Powertools idempotency.
    attempt: StrictInt | None = Field(default=None, ge=2, le=MAX_ATTEMPTS)
    # Set by the controller on a wake-up: which of the record's wake-ups this is, so a
    # stale one never brings back a job given up meanwhile (docs/contract.md §6).
    wake: StrictInt | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _no_null_scheduling_fields(cls, data: Any) -> Any:
        # Left out, a field takes its default; given as null, it is a mistake to name.
        if isinstance(data, dict):
            optional = ("priority", "share", "retry", "preemptible")
            nulls = [name for name in optional if name in data and data[name] is None]
            if nulls:
                raise ValueError("; ".join(f"{name}: must not be null" for name in nulls))
        return data

    @model_validator(mode="after")
    def _fill_identity(self) -> JobRequest:
        problems = []
        if self.job_name is None and self.request_id is None:
            problems.append("job_name or request_id: one of the two is required")
        if self.job_name is not None:
            limit = MAX_JOB_NAME_LENGTH[self.job_type]
            if len(self.job_name) > limit:
                problems.append(
                    f"job_name: at most {limit} characters for job_type {self.job_type}"
                )
            if TRY_NAME_PATTERN.search(self.job_name):
                problems.append(
                    "job_name: may not end like a retry's name (-try<N>-<6 hex digits>), "
                    "which jobctl reserves for the tries of its jobs"
                )
        if self.action == "submit" and self.spec is None:
            problems.append("spec: required when action is submit")
        if self.action in ("stop", "update") and self.job_name is None:
            problems.append(f"job_name: required when action is {self.action}")
        if self.action == "update":
            if self.priority is None:
                problems.append("priority: required when action is update")
            problems.extend(
                f"{name}: only priority can be updated (action update)"
                for name in sorted(self.model_fields_set - _UPDATE_FIELDS)
            )
        if problems:
            raise ValueError("; ".join(problems))
        request_id = self.request_id if self.request_id is not None else self.job_name
        assert request_id is not None  # noqa: S101 - guaranteed by the check above
        if self.job_name is None:
            object.__setattr__(self, "job_name", derive_job_name(self.job_type, request_id))
        object.__setattr__(self, "request_id", request_id)
        return self

    @property
    def job_priority(self) -> int:
        return MIN_PRIORITY if self.priority is None else self.priority

    @property
    def job_share(self) -> str:
        return self.share or DEFAULT_SHARE

    @property
    def name_given(self) -> bool:
        """Whether the request named its job (rather than having it derived)."""
        return "job_name" in self.model_fields_set

    @property
    def name(self) -> str:
        assert self.job_name is not None  # noqa: S101 - set by validation
        return self.job_name

    @property
    def rid(self) -> str:
        assert self.request_id is not None  # noqa: S101 - set by validation
        return self.request_id

    @property
    def body_hash(self) -> str:
        """A hash of what the request asks for (its job name and spec): the ledger keeps it,
        so a request id reused for another body is refused even after idempotency's
        record expired."""
        body = json.dumps([self.name, self.spec], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One problem per pydantic error, naming the field and the rule, never the value."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{location}: {message}" if location else message)
    return problems


class UnreadableRequest(InvalidRequest):
    """A body that is not a valid request, with whatever identity could be read from it,
    so the rejection can still be keyed and announced (docs/contract.md §4)."""

    def __init__(
        self,
        problems: list[str],
        job_type: str | None = None,
        job_name: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(problems)
        self.job_type = job_type
        self.job_name = job_name
        self.request_id = request_id


def parse_request(body: str) -> JobRequest:
    """The request in an SQS message body, or UnreadableRequest naming every problem."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise UnreadableRequest(["body: JSON nested too deeply"]) from None
    except json.JSONDecodeError as exc:
        raise UnreadableRequest(
            [f"body: not valid JSON ({exc.msg} at position {exc.pos})"]
        ) from None
    except ValueError:  # e.g. an integer with more digits than Python will parse
        raise UnreadableRequest(["body: not valid JSON (a number is out of range)"]) from None
    if not isinstance(data, dict):
        raise UnreadableRequest(["body: must be a JSON object"])
    try:
        return JobRequest.model_validate(data)
    except ValidationError as exc:
        raise UnreadableRequest(describe_validation_error(exc), **_identity(data)) from None


def _identity(data: dict[str, Any]) -> dict[str, str | None]:
    """The parts of an invalid request that are still usable as its ledger key."""
    job_type = data.get("job_type") if data.get("job_type") in JOB_TYPES else None
    name = data.get("job_name")
    usable_name = (
        isinstance(name, str)
        and JOB_NAME_PATTERN.fullmatch(name) is not None
        and len(name) <= MAX_JOB_NAME_LENGTH.get(job_type or "TrainingJob", 63)
    )
    request_id = data.get("request_id")
    return {
        "job_type": job_type,
        "job_name": name if usable_name else None,
        "request_id": request_id
        if isinstance(request_id, str) and len(request_id) <= 128
        else None,
    }
