"""Powertools Logger, Metrics and Tracer, shared by the whole package.

Nothing here logs a request's ``Environment`` or ``HyperParameters`` values (CONTRACT §7):
anything that may carry them goes through ``redact`` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

__all__ = ["MetricUnit", "count", "logger", "metrics", "redact", "scrub", "secret_values", "tracer"]

SERVICE = "jobctl"
NAMESPACE = "jobctl"
SECRET_MAPS = frozenset({"Environment", "HyperParameters", "environment"})
REDACTED = "***"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of every secret-bearing map replaced."""
    if isinstance(value, dict):
        return {
            key: (
                {k: REDACTED for k in item}
                if key in SECRET_MAPS and isinstance(item, dict)
                else redact(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


_ECHOED_VALUE = re.compile(r"(?i)(value\s*)'[^']*'")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` (say, an AWS error message) without the secret values it may echo."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    # AWS validation messages quote the offending value: "Value 'x' at 'environment'...".
    return _ECHOED_VALUE.sub(rf"\1'{REDACTED}'", text)


def secret_values(spec: Any) -> list[str]:
    """The values of a spec's secret-bearing maps, to scrub from messages about it."""
    if not isinstance(spec, dict):
        return []
    values: list[str] = []
    for key in SECRET_MAPS:
        mapping = spec.get(key)
        if isinstance(mapping, dict):
            values.extend(str(v) for v in mapping.values())
    return values


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
