"""The logic on in-memory fakes of its ports, SageMaker's among them: no moto, no simulator."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from jobctl.bootstrap import Ports, assemble
from jobctl.config import Settings
from jobctl.logic.reconciliation import Reconciler
from jobctl.logic.scheduling import WaitingLimits
from jobctl.logic.submission import Delivery, Outcome, Submitter
from jobctl.models.jobs import JobRecord
from jobctl.models.requests import parse_request
from jobctl_tools.local.clocks import ManualClock
from tests.support.environment import ENVIRONMENT
from tests.support.fakes import (
    FakeSageMaker,
    InMemoryCapacity,
    InMemoryLedger,
    InMemoryNotices,
    InMemorySweepState,
    InMemoryWakeup,
)


@dataclass
class Logic:
    """The submit and reconcile logic, with every port it talks to in reach."""

    clock: ManualClock
    sagemaker: FakeSageMaker = field(init=False)
    ledger: InMemoryLedger = field(default_factory=InMemoryLedger)
    notices: InMemoryNotices = field(default_factory=InMemoryNotices)
    sweep_state: InMemorySweepState = field(default_factory=InMemorySweepState)
    wakeup: InMemoryWakeup = field(default_factory=InMemoryWakeup)
    capacity: InMemoryCapacity = field(init=False)
    submitter: Submitter = field(init=False)
    reconciler: Reconciler = field(init=False)

    def __post_init__(self) -> None:
        self.sagemaker = FakeSageMaker(self.clock)
        self.capacity = InMemoryCapacity(self.ledger)
        self.reconfigure()

    def reconfigure(self, **changes: str) -> None:
        settings = Settings.from_environ({**ENVIRONMENT, **changes})
        # As the deployment's ledger adapter is built with them (bootstrap).
        self.ledger.limits = WaitingLimits(settings.max_waiting_jobs, settings.max_waiting_shares)
        ports = Ports(
            sagemaker=self.sagemaker,
            ledger=self.ledger,
            publisher=self.notices,
            sweep_state=self.sweep_state,
            capacity=self.capacity,
            wakeup=self.wakeup,
        )
        self.submitter, self.reconciler = assemble(settings, ports, self.clock)

    def handle(
        self, body: dict[str, Any], message_id: str | None = None, receive_count: int = 1
    ) -> Outcome:
        return self.handle_text(json.dumps(body), message_id, receive_count)

    def handle_text(
        self, body: str, message_id: str | None = None, receive_count: int = 1
    ) -> Outcome:
        request = parse_request(body)
        delivery = Delivery(message_id or str(uuid.uuid4()), receive_count, body)
        return self.submitter.handle(request, delivery)

    def deliver_wakeups(self) -> list[Outcome]:
        """Hand the requests of admitted jobs back to the submitter, as the queue would."""
        outcomes: list[Outcome] = []
        while sent := self.wakeup.take():
            outcomes.extend(self.handle_text(body) for body in sent)
        return outcomes

    def sweep(self, time_left: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
        """A scheduled sweep, and what it reported."""
        return self.reconciler.sweep("a-sweep", time_left).__dict__

    def record(self, job_name: str, job_type: str = "TrainingJob") -> JobRecord:
        found = self.ledger.get(job_name, job_type)
        assert found is not None, f"no record of {job_type} {job_name}"
        return found


@pytest.fixture
def logic(clock: ManualClock) -> Logic:
    return Logic(clock=clock)
