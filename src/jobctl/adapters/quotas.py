"""SageMaker's training instance quotas, read through the Service Quotas API (for
INSTANCE_TYPE_BUDGETS=auto, docs/contract.md §8).

ListServiceQuotas returns only quotas with an applied value (its doc string: "If the
applied quota value is not available for a quota, the quota is not retrieved"), so the
defaults come from ListAWSDefaultServiceQuotas and applied values override them. The
account's SageMaker quotas run to thousands (every instance type, for every use), which
is tens of calls: one container reads them and leaves them for the others in a cache
item beside the idempotency records, for an hour.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import describe, translated
from jobctl.models.jobs import utc_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_service_quotas import ServiceQuotasClient

# "ml.p4d.24xlarge for training job usage"; spot training has its own quotas
# ("... for spot training job usage"), which jobctl does not count separately.
_TRAINING_QUOTA = re.compile(r"^(ml\.[A-Za-z0-9.-]+) for training job usage$")
CACHE_FOR = timedelta(hours=1)
_CACHE_KEY = {"id": {"S": "jobctl#quotas"}}


class QuotasUnavailable(RuntimeError):
    """INSTANCE_TYPE_BUDGETS=auto, and the quotas could not be read."""


def training_quotas(quotas: list[dict[str, Any]]) -> dict[str, int]:
    found = {}
    for quota in quotas:
        matched = _TRAINING_QUOTA.match(str(quota.get("QuotaName", "")))
        value = quota.get("Value")
        if matched and isinstance(value, int | float) and math.isfinite(value):
            found[matched.group(1)] = max(0, int(value))
    return found


class ServiceQuotasReader:
    def __init__(self, client: ServiceQuotasClient) -> None:
        self._client = client

    def training_instances(self) -> dict[str, int]:
        """Instances of each type the account may run in training jobs at once."""
        return {
            **training_quotas(self._all("list_aws_default_service_quotas")),
            **training_quotas(self._all("list_service_quotas")),
        }

    def _all(self, operation: str) -> list[dict[str, Any]]:
        try:
            pages = self._client.get_paginator(operation).paginate(ServiceCode="sagemaker")  # type: ignore[call-overload]
            return [quota for page in pages for quota in page.get("Quotas", [])]
        except (ClientError, BotoCoreError) as exc:
            raise QuotasUnavailable(
                f"INSTANCE_TYPE_BUDGETS=auto: could not read SageMaker's quotas from Service "
                f"Quotas ({describe(exc)})"
            ) from exc


class CachedQuotas:
    """The quotas as the last container to read them left them, if that was recently."""

    def __init__(
        self,
        reader: ServiceQuotasReader,
        client: DynamoDBClient,
        table_name: str,
        now: Callable[[], datetime],
    ) -> None:
        self._reader = reader
        self._client = client
        self._table = table_name
        self._now = now

    def training_instances(self) -> dict[str, int]:
        cached = self._cached()
        if cached is not None:
            return cached
        quotas = self._reader.training_instances()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **_CACHE_KEY,
                    "read_at": {"S": utc_iso(self._now())},
                    "training_instances": {"S": json.dumps(quotas, sort_keys=True)},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translated(exc, "DynamoDB") from exc
        return quotas

    def _cached(self) -> dict[str, int] | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=_CACHE_KEY).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translated(exc, "DynamoDB") from exc
        if not item or item.get("read_at", {}).get("S", "") < utc_iso(self._now() - CACHE_FOR):
            return None
        try:
            quotas = json.loads(item["training_instances"]["S"])
        except (KeyError, ValueError):
            return None  # damaged: read the quotas again
        if not isinstance(quotas, dict):
            return None
        return {str(k): int(v) for k, v in quotas.items() if isinstance(v, int)}
