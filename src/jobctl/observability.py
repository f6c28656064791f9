"""Powertools Logger and Metrics, shared by the whole package.

Traces come from Lambda's own active tracing (the template's ``Tracing: Active``) and,
opt-in, OpenTelemetry through AWS's ADOT layer: not from the AWS X-Ray SDK, which is at
end of support on 2027-02-25 and was the largest single cost of a cold start.

Nothing here logs a request's ``Environment`` or ``HyperParameters`` values (docs/contract.md §7):
anything that may carry them goes through ``redact`` first, and anything SageMaker says
about a job goes through ``scrub``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from jobctl.errors import UnreadableRecord

__all__ = [
    "MetricUnit",
    "count",
    "logger",
    "metrics",
    "redact",
    "report_unreadable",
    "scrub",
    "secret_values",
    "shape_of",
]

SERVICE = "jobctl"
NAMESPACE = "jobctl"
# Keys whose values may be credentials, in any casing: the maps of environment variables
# and hyperparameters, and a container's command line.
SECRET_KEYS = frozenset(
    {"environment", "hyperparameters", "containerarguments", "containerentrypoint"}
)
REDACTED = "***"
# Shorter values are not scrubbed out of messages unless their key names a secret
# (docs/contract.md §7): scrubbing "1", "100" or "info" would erase the message's meaning.
MIN_SCRUBBED_LENGTH = 8
_SECRET_NAME = re.compile(r"(?i)TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# At DEBUG, botocore logs whole request bodies (a CreateTrainingJob carries Environment)
# and urllib3 the wire: whatever the root logger's level, these stay at WARNING.
for _chatty in ("botocore", "boto3", "urllib3", "s3transfer"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-bearing value replaced, whatever its shape:
    a map keeps its keys, anything else (a string, a list) becomes ``***``."""
    if isinstance(value, dict):
        return {
            key: _redacted(item) if _is_secret_key(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED for key in value}
    return REDACTED


def shape_of(event: Any) -> dict[str, Any]:
    """What may be logged of an event nobody could read: its source, detail-type and key
    names, never a value."""
    if not isinstance(event, dict):
        return {"type": type(event).__name__}
    detail = event.get("detail")
    return {
        "source": str(event.get("source"))[:100],
        "detail-type": str(event.get("detail-type"))[:100],
        "keys": sorted(str(key)[:100] for key in event)[:50],
        "detail_keys": sorted(str(key)[:100] for key in detail)[:50]
        if isinstance(detail, dict)
        else None,
    }


def secret_values(value: Any) -> list[str]:
    """The values under a secret-bearing key anywhere in ``value`` (a request's spec, a
    Describe answer, an event's detail) worth scrubbing out of messages about the job
    (docs/contract.md §7): those of 8 characters or more, and shorter ones whose own key
    names a secret (``DB_PASSWORD``: ``hunter2``). ``100`` or ``info`` stay readable."""
    return sorted(set(_secrets_in(value)))


def _secrets_in(value: Any, secret: bool = False, name: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets_in(item, secret or _is_secret_key(key), str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _secrets_in(item, secret, name)
    elif secret and value is not None and not isinstance(value, bool):
        text = str(value)
        if len(text) >= MIN_SCRUBBED_LENGTH or (text and _SECRET_NAME.search(name)):
            yield text


# AWS validation messages quote the offending value: "Value 'x' at 'environment' ...",
# and a message cut short may leave the quote unclosed.
_ECHOED_VALUE = re.compile(r"""(?i)(value\s*)(?:'[^']*(?:'|$)|"[^"]*(?:"|$))""")
# A value is a whole token: never replaced inside a longer word ("info" in "information").
_WORD = r"[A-Za-z0-9]"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` (an AWS error message, a FailureReason) without the secret values it may
    echo, wherever one stands as a whole token: verbatim, escaped the ways messages escape
    them, or cut off at the message's end. Give it ``secret_values``' choice of values."""
    candidates = {s for s in secrets if s}
    variants = sorted(_variants(candidates), key=len, reverse=True)
    if variants:
        alternatives = "|".join(re.escape(variant) for variant in variants)
        token = re.compile(rf"(?<!{_WORD})(?:{alternatives})(?!{_WORD})")
        text = token.sub(REDACTED, text)
    for secret in candidates:  # a message cut short ends with the start of a secret
        for length in range(len(secret) - 1, MIN_SCRUBBED_LENGTH - 1, -1):
            start = len(text) - length
            if text.endswith(secret[:length]) and not re.match(_WORD, text[start - 1 : start]):
                text = text[:start] + REDACTED
                break
    return _ECHOED_VALUE.sub(rf"\1'{REDACTED}'", text)


def _variants(secrets: Iterable[str]) -> set[str]:
    found = set()
    for secret in secrets:
        found |= {
            secret,
            json.dumps(secret)[1:-1],  # JSON-escaped
            json.dumps(secret, ensure_ascii=False)[1:-1],
            secret.encode("unicode_escape").decode(),
            repr(secret)[1:-1],
            quote(secret, safe=""),  # URL-encoded
        }
    return {variant for variant in found if variant}


def report_unreadable(unreadable: UnreadableRecord) -> None:
    """A ledger record that cannot be read: logged by its key (never its contents) and
    counted, so an alarm can see it (docs/contract.md §6)."""
    job_name, job_type = unreadable.key
    logger.error(
        "unreadable ledger record skipped", extra={"job_name": job_name, "job_type": job_type}
    )
    count("LedgerRecordsUnreadable")


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dims: str) -> None:
    """Emit one EMF metric now, with its own dimensions (e.g. settled by status)."""
    if not dims:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    if is_metrics_disabled():  # single_metric prints regardless of POWERTOOLS_METRICS_DISABLED
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dim in dims.items():
            metric.add_dimension(name=key, value=dim)
