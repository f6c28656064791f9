"""Request rules (docs/contract.md §3, §7): what a valid submit request becomes. No AWS calls."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from jobctl.errors import InvalidRequest
from jobctl.logic.spec_validation import spec_problems
from jobctl.models.kinds import KINDS
from jobctl.models.requests import JobRequest

# Tags that mark a SageMaker job as this deployment's own, made for one request: only
# such a job is adopted (ResourceInUse after a lost answer) or stopped, and IAM lets the
# functions stop or tag nothing else. "managed-by" just says jobctl made it.
OWNER_TAG_KEY = "jobctl:managed-by"
OWNER_TAG_VALUE = "jobctl"
DEPLOYMENT_TAG_KEY = "jobctl:deployment"
REQUEST_TAG_KEY = "jobctl:request"
# The request's job_name, so the event of a retry (a job of another name) finds its record.
JOB_TAG_KEY = "jobctl:job"
_RESERVED_TAG_PREFIX = "jobctl:"
# SageMaker allows 50 tags a job; the ownership tags take their share of them.
SAGEMAKER_MAX_TAGS = 50


def request_tag(request_id: str) -> str:
    """The request-id tag's value: a hash, since a request id may hold characters a tag
    value may not."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:32]


def ownership_tags(deployment_id: str, request_id: str, job_name: str) -> list[dict[str, str]]:
    return [
        {"Key": OWNER_TAG_KEY, "Value": OWNER_TAG_VALUE},
        {"Key": DEPLOYMENT_TAG_KEY, "Value": deployment_id},
        {"Key": REQUEST_TAG_KEY, "Value": request_tag(request_id)},
        {"Key": JOB_TAG_KEY, "Value": job_name},
    ]


def is_ours(tags: Mapping[str, str], deployment_id: str, request_id: str) -> bool:
    """Whether a job's tags say this deployment created it for this request."""
    deployment_matches = tags.get(DEPLOYMENT_TAG_KEY) == deployment_id
    request_matches = tags.get(REQUEST_TAG_KEY) == request_tag(request_id)
    return deployment_matches and request_matches


def create_params(
    request: JobRequest,
    default_role_arn: str,
    permitted_roles: frozenset[str],
    deployment_id: str,
    sagemaker_name: str | None = None,
) -> dict[str, Any]:
    """The CreateTrainingJob / CreateAutoMLJob parameters (for the job ``sagemaker_name``, a
    retry's; else the request's ``job_name``), or InvalidRequest naming each problem."""
    spec = dict(request.spec or {})
    problems: list[str] = []
    kind = KINDS[request.job_type]
    name_member = kind.name_member
    if name_member in spec:
        problems.append(f"spec.{name_member}: not allowed, give the name as job_name")
    role = spec.setdefault("RoleArn", default_role_arn)
    if isinstance(role, str) and role not in permitted_roles:
        allowed = [default_role_arn, *sorted(permitted_roles - {default_role_arn})]
        problems.append(f"spec.RoleArn: not an allowed role; allowed: {', '.join(allowed)}")
    tags = spec.get("Tags", [])
    if isinstance(tags, list):
        if any(
            isinstance(tag, dict) and str(tag.get("Key", "")).startswith(_RESERVED_TAG_PREFIX)
            for tag in tags
        ):
            problems.append(f"spec.Tags: keys starting with {_RESERVED_TAG_PREFIX} are reserved")
        ours = ownership_tags(deployment_id, request.rid, request.name)
        room = SAGEMAKER_MAX_TAGS - len(ours)
        if len(tags) > room:
            problems.append(
                f"spec.Tags: at most {room} tags (SageMaker allows {SAGEMAKER_MAX_TAGS} a job, "
                f"and jobctl adds {len(ours)} of its own)"
            )
            tags = tags[:room]  # one clear problem, not SageMaker's count of all of them
        spec["Tags"] = [*tags, *ours]
    params = {name_member: sagemaker_name or request.name, **spec}
    problems.extend(spec_problems(kind.create, params))
    if problems:
        raise InvalidRequest(problems)
    return params


def max_runtime_seconds(spec: dict[str, Any] | None) -> int | None:
    """The longest SageMaker lets a job run, as its spec says: its MaxRuntimeInSeconds,
    or for managed spot its MaxWaitTimeInSeconds (waiting for spot capacity included),
    or an AutoML job's MaxAutoMLJobRuntimeInSeconds."""
    spec = spec or {}
    stopping = spec.get("StoppingCondition") or {}
    criteria = (spec.get("AutoMLJobConfig") or {}).get("CompletionCriteria") or {}
    limits = [
        stopping.get("MaxRuntimeInSeconds"),
        stopping.get("MaxWaitTimeInSeconds"),
        criteria.get("MaxAutoMLJobRuntimeInSeconds"),
    ]
    known = [limit for limit in limits if isinstance(limit, int) and not isinstance(limit, bool)]
    return max(known, default=None)
