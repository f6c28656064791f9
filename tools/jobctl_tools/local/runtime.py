"""Invoke the handlers in-process the way Lambda does: one invocation at a time, with a context."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from jobctl_tools.local.lambda_events import LambdaContext
from jobctl_tools.local.template import resource

# Warm containers per function: as many submit invocations at once as the event source
# runs (SubmitMaxConcurrency's least), one reconcile at a time.
CONTAINERS = {"SubmitFunction": 2}


class LocalFunctions:
    """The template's functions, run in this process: a few warm containers each.

    The functions run side by side, as in Lambda, so a submit batch pacing its creates
    never waits for reconciles. Their invocations share Powertools' logger and metrics
    objects, so a log line may carry another invocation's context keys: a local-only
    blemish.
    """

    def __init__(self) -> None:
        self._locks: dict[str, threading.Semaphore] = {}
        self._handlers: dict[str, tuple[Callable[[dict[str, Any], Any], Any], int]] = {}
        self._loading = threading.Lock()

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        handler, timeout = self._function(logical_id)
        context = LambdaContext(function_name=logical_id, timeout_seconds=timeout)
        with self._locks[logical_id]:
            try:
                return handler(event, context)
            finally:
                # With POWERTOOLS_METRICS_DISABLED, Powertools skips the flush but keeps the
                # metric set, and prints it once a metric reaches 100 values: drop it here.
                from jobctl.observability import metrics

                metrics.clear_metrics()

    def _function(self, logical_id: str) -> tuple[Callable[[dict[str, Any], Any], Any], int]:
        """The handler the template names for the function, and its timeout."""
        with self._loading:
            if logical_id not in self._handlers:
                properties = resource(logical_id)["Properties"]
                module_name, _, attribute = properties["Handler"].rpartition(".")
                handler = getattr(importlib.import_module(module_name), attribute)
                self._handlers[logical_id] = (handler, int(properties.get("Timeout", 60)))
                self._locks[logical_id] = threading.Semaphore(CONTAINERS.get(logical_id, 1))
        return self._handlers[logical_id]
