"""Faults in the controller's own AWS calls, for the chaos soak (``make chaos-soak``).

botocore's event hooks on the controller's clients (only theirs: the local stack's SQS
event source and the soak's own reads are left alone):

- ``before-call``: a share of every call fails before it is sent, with a transient error
  (``InternalServerError``, 500), as a call would once botocore's retries ran out;
- ``after-call``: a share of the writes that succeeded then *kill* the invocation making
  them (an exception between two writes), as a timeout or a crash would. SNS publishes
  are spared: a notice published by an invocation that dies before recording it is sent
  again after its claim's lease (at least once, README "Notices"), which the soak would
  count as a second notice.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from jobctl.adapters.aws import Clients

# The writes an invocation may die right after (by service): each changes state a later
# step relies on.
WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "SendMessage",
        "CreateTrainingJob",
        "CreateAutoMLJob",
        "StopTrainingJob",
        "StopAutoMLJob",
    }
)


class InvocationKilled(Exception):
    """The invocation died right after a write succeeded (the chaos soak's kill)."""


class Chaos:
    """Faults injected into the controller's clients, counted by kind."""

    def __init__(self, fault_rate: float, kill_rate: float, seed: int = 11) -> None:
        self.fault_rate = fault_rate
        self.kill_rate = kill_rate
        self._random = random.Random(seed)  # noqa: S311 - simulation, not security
        self._lock = threading.Lock()
        self.faults: Counter[str] = Counter()  # by service
        self.kills: Counter[str] = Counter()  # by operation

    def attach(self, clients: Clients) -> None:
        fail: Any = self._fail  # botocore types hooks as returning None; before-call may answer
        for client in (clients.sagemaker, clients.dynamodb, clients.sns, clients.sqs):
            client.meta.events.register("before-call.*.*", fail)
            client.meta.events.register("after-call.*.*", self._kill)
        if clients.service_quotas is not None:
            clients.service_quotas.meta.events.register("before-call.*.*", fail)

    def _draw(self, rate: float) -> bool:
        with self._lock:
            return self._random.random() < rate

    def _fail(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self._draw(self.fault_rate):
            return None
        service = model.service_model.service_id.hyphenize()
        with self._lock:
            self.faults[service] += 1
        response = AWSResponse("https://chaos.invalid", 500, HTTPHeaders(), None)
        error = {"Code": "InternalServerError", "Message": "injected by the chaos soak"}
        return response, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}

    def _kill(self, http_response: Any, model: Any, **_: Any) -> None:
        status = getattr(http_response, "status_code", 500)
        if model.name not in WRITES or status >= 300 or not self._draw(self.kill_rate):
            return
        with self._lock:
            self.kills[model.name] += 1
        raise InvocationKilled(f"killed right after {model.name}")

    def report(self) -> dict[str, Any]:
        return {"faults by service": dict(self.faults), "kills after": dict(self.kills)}
