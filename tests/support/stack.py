"""The deployed stack in moto, with the simulated SageMaker: the one runtime
(``jobctl_tools.local.runtime.Deployment``), and what tests read of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from jobctl.adapters.aws import Clients, clients
from jobctl.bootstrap import Controller
from jobctl.config import Settings
from jobctl.models.jobs import JobRecord
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.runtime import Deployment, Names
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from jobctl_tools.local.service_quotas import SimulatedServiceQuotas
from tests.support.environment import ENVIRONMENT, IDEMPOTENCY_TABLE, JOBS_TABLE, TOPIC_NAME

__all__ = ["Crash", "Stack", "deploy"]


class Crash(BaseException):
    """The function's process dies here (a timeout or an out-of-memory kill): nothing in
    the handler gets to clean up, exactly as in Lambda."""


@dataclass
class Stack:
    """The deployment (``deployment``: the template's functions on the test's clock),
    invoked directly, and what a test reads of it: the ledger, the notices.

    ``reconfigure`` rebuilds the functions' controller with settings changed, as a
    template parameter would. ``service_quotas`` lists the quotas the simulated SageMaker
    enforces (the clients' Service Quotas client is attached to it), for
    INSTANCE_TYPE_BUDGETS=auto."""

    deployment: Deployment
    _notice_queue: str
    clients: Clients
    service_quotas: SimulatedServiceQuotas
    _received: list[dict[str, Any]] = field(default_factory=list)
    settings: Settings = field(init=False)
    controller: Controller = field(init=False)

    def __post_init__(self) -> None:
        self.reconfigure()

    @property
    def sagemaker(self) -> SimulatedSageMaker:
        return self.deployment.sagemaker

    @property
    def clock(self) -> ManualClock:
        assert isinstance(self.deployment.clock, ManualClock)
        return self.deployment.clock

    def reconfigure(self, **changes: str) -> Controller:
        self.settings = Settings.from_environ({**ENVIRONMENT, **changes})
        self.controller = self.deployment.install(self.settings, self.clients)
        return self.controller

    def submit(
        self, *bodies: Any, receive_count: int = 1, message_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """Invoke SubmitFunction with an SQS event carrying ``bodies`` (dicts are sent as
        JSON, strings as given)."""
        return self.deployment.submit(bodies, receive_count, message_ids)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke ReconcileFunction with ``event`` (whether the rule would match it or not)."""
        return self.deployment.reconcile(event)

    def sweep(self) -> dict[str, Any]:
        """Invoke ReconcileFunction as its schedule does, at the stack's simulated time."""
        return self.deployment.sweep()

    def job(self, job_name: str, job_type: str = "TrainingJob") -> JobRecord:
        """The ledger's record of the job; the test fails if there is none."""
        record = self.controller.reconciler.ledger.get(job_name, job_type)
        if record is None:
            pytest.fail(f"the ledger holds no record of {job_type} {job_name}")
        return record

    def has_job(self, job_name: str, job_type: str = "TrainingJob") -> bool:
        """Whether the ledger holds a record of the job."""
        return self.controller.reconciler.ledger.get(job_name, job_type) is not None

    def ledger_items(self) -> list[dict[str, Any]]:
        """The jobs table's items, as DynamoDB stores them."""
        pages = self.clients.dynamodb.get_paginator("scan").paginate(TableName=JOBS_TABLE)
        return [item for page in pages for item in page["Items"]]

    def notices(self) -> list[dict[str, Any]]:
        """Every notice published so far: the message, plus its attributes under "_attributes"."""
        sqs = boto3.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self._notice_queue, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return list(self._received)
            for message in messages:
                envelope = json.loads(message["Body"])
                notice = json.loads(envelope["Message"])
                notice["_attributes"] = {
                    k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                }
                self._received.append(notice)
                sqs.delete_message(
                    QueueUrl=self._notice_queue, ReceiptHandle=message["ReceiptHandle"]
                )

    def notices_for(self, job_name: str) -> list[dict[str, Any]]:
        return [n for n in self.notices() if n["job_name"] == job_name]

    def fail_dynamodb(
        self, operation: str, table: str, error: BaseException | str, times: int = 1
    ) -> None:
        """Make the next ``times`` ``operation`` calls on ``table`` fail (a ClientError with
        the code given as a string), as they would once botocore's retries are spent."""
        remaining = [times]

        def intercept(params: dict[str, Any], **_: Any) -> None:
            if remaining[0] and params.get("TableName") == table:
                remaining[0] -= 1
                if isinstance(error, str):
                    raise ClientError({"Error": {"Code": error, "Message": "simulated"}}, operation)
                raise error

        self.clients.dynamodb.meta.events.register(
            f"provide-client-params.dynamodb.{operation}", intercept
        )


def deploy(sagemaker: SimulatedSageMaker, clock: ManualClock) -> Stack:
    """The stack's tables and topic, as template.yaml has them, with a queue subscribed to
    the topic to read the notices from. Call it inside moto's ``mock_aws``."""
    names = Names(jobs_table=JOBS_TABLE, idempotency_table=IDEMPOTENCY_TABLE, topic=TOPIC_NAME)
    deployment = Deployment(clock, sagemaker).deploy(names, queue=False)
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName="notice-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    made = clients(service_quotas=True)
    sagemaker.attach(made.sagemaker)
    service_quotas = SimulatedServiceQuotas(sagemaker.quotas, clock=clock)
    service_quotas.attach(made.service_quotas)
    return Stack(
        deployment=deployment,
        _notice_queue=queue_url,
        clients=made,
        service_quotas=service_quotas,
    )
