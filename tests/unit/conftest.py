"""The logic on in-memory fakes of its ports and the simulated SageMaker: no moto."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from jobctl.adapters.sagemaker import SageMakerAdapter
from jobctl.bootstrap import Ports, assemble, call_rates
from jobctl.config import Settings
from jobctl.logic.reconciliation import Reconciler
from jobctl.logic.submission import Delivery, Outcome, Submitter
from jobctl.models.jobs import JobRecord
from jobctl.models.requests import parse_request
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from tests.support.environment import ENVIRONMENT
from tests.support.fakes import (
    InMemoryCapacity,
    InMemoryLedger,
    InMemoryNotices,
    InMemorySweepState,
)


@dataclass
class Logic:
    """The submit and reconcile logic, with every port it talks to in reach."""

    sagemaker: SimulatedSageMaker
    clock: ManualClock
    ledger: InMemoryLedger = field(default_factory=InMemoryLedger)
    notices: InMemoryNotices = field(default_factory=InMemoryNotices)
    capacity: InMemoryCapacity = field(default_factory=InMemoryCapacity)
    sweep_state: InMemorySweepState = field(default_factory=InMemorySweepState)
    submitter: Submitter = field(init=False)
    reconciler: Reconciler = field(init=False)

    def __post_init__(self) -> None:
        self.reconfigure()

    def reconfigure(self, **changes: str) -> None:
        settings = Settings.from_environ({**ENVIRONMENT, **changes})
        client = self.sagemaker.attach(boto3.client("sagemaker", region_name="us-east-1"))
        ports = Ports(
            sagemaker=SageMakerAdapter(client, self.clock, call_rates(settings)),
            ledger=self.ledger,
            publisher=self.notices,
            sweep_state=self.sweep_state,
            capacity=self.capacity if settings.has_budget else None,
        )
        self.submitter, self.reconciler = assemble(settings, ports, self.clock)

    def handle(
        self, body: dict[str, Any], message_id: str | None = None, receive_count: int = 1
    ) -> Outcome:
        request = parse_request(json.dumps(body))
        delivery = Delivery(message_id or str(uuid.uuid4()), receive_count)
        return self.submitter.handle(request, delivery)

    def record(self, job_name: str, job_type: str = "TrainingJob") -> JobRecord:
        found = self.ledger.get(job_name, job_type)
        assert found is not None, f"no record of {job_type} {job_name}"
        return found


@pytest.fixture
def logic(sagemaker: SimulatedSageMaker, clock: ManualClock) -> Logic:
    return Logic(sagemaker=sagemaker, clock=clock)
