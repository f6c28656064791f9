"""The jobs queue, for requests that wait for capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import describe
from jobctl.errors import RetryableError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsRequeue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send_later(self, body: str, delay_seconds: int) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=delay_seconds
            )
        except (ClientError, BotoCoreError) as exc:
            # The original message is not deleted then: SQS delivers it again.
            raise RetryableError(f"SQS: {describe(exc)}") from exc
