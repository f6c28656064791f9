"""The jobs queue, for waking admitted jobs: their request goes on it again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import describe
from jobctl.errors import RetryableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsWakeup:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, body: str) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=body)
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"SQS: {describe(exc)}") from exc
