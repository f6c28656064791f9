"""Completion notices on SNS (docs/contract.md §5)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import describe, is_transient
from jobctl.errors import RetryableError
from jobctl.models.jobs import Notice

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class SnsNoticePublisher:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, notice: Notice) -> None:
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=notice.subject,
                # JSON for machines (every protocol), a readable form for email.
                MessageStructure="json",
                Message=json.dumps({"default": notice.message(), "email": notice.readable()}),
                MessageAttributes={
                    "job_type": {"DataType": "String", "StringValue": notice.job_type},
                    "status": {"DataType": "String", "StringValue": notice.status},
                    "share": {"DataType": "String", "StringValue": notice.share},
                    "notice_id": {"DataType": "String", "StringValue": notice.dedup_id},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            # Every publish failure is worth retrying: the notice is still pending in the ledger.
            kind = "transient" if is_transient(exc) else "unexpected"
            raise RetryableError(f"SNS publish failed ({kind}): {describe(exc)}") from exc
