"""Retries of failed jobs (docs/contract.md §9): which failures earn another try, and what
each try is called in SageMaker.

A try is a new SageMaker job (a job name can never be reused), so the controller names
it deterministically from the request's ``job_name`` and the try number: a redelivered
or replayed retry asks for the same name, and SageMaker's ``ResourceInUse`` or the
ownership tags settle whether it already exists. The first try keeps ``job_name`` itself.
"""

from __future__ import annotations

import hashlib
from fnmatch import fnmatchcase

from jobctl.models.kinds import KINDS, JobType
from jobctl.models.requests import RetryPolicy

_HASH_LENGTH = 6


def matches(failure_reason: str | None, patterns: tuple[str, ...]) -> bool:
    """Whether ``failure_reason`` matches one of the glob patterns (``*``, ``?``; a ``[`` is
    an ordinary character, as SageMaker's reasons use brackets)."""
    if not failure_reason:
        return False
    return any(fnmatchcase(failure_reason, pattern.replace("[", "[[]")) for pattern in patterns)


def earns_another_try(policy: RetryPolicy, attempt: int, failure_reason: str | None) -> bool:
    """A failed try ``attempt`` (1-based) is tried again while tries remain and its reason
    matches the policy."""
    return attempt < policy.attempts and matches(failure_reason, policy.on)


def try_name(job_type: JobType, job_name: str, attempt: int) -> str:
    """The SageMaker name of try ``attempt`` of ``job_name``: the name itself for the first
    try, then ``<name>-try<N>-<hash>`` within the type's name limit (63 characters for
    training, 32 for AutoML): a long name is cut, and the hash of the whole name keeps two
    cut names apart (and a try's name apart from any name a user would choose)."""
    if attempt == 1:
        return job_name
    digest = hashlib.sha256(f"{job_type}/{job_name}".encode()).hexdigest()[:_HASH_LENGTH]
    suffix = f"-try{attempt}-{digest}"
    base = job_name[: KINDS[job_type].name_limit - len(suffix)].rstrip("-")
    return f"{base}{suffix}"
