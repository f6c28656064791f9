"""template.yaml and events/ for tests: tables, rules and samples come from the files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from moto.events.models import EventPattern

from jobctl_tools.local.template import (
    EVENTS,
    TEMPLATE,
    event_patterns,
    function_events,
    load_template,
    resource,
    table_create_kwargs,
)

if TYPE_CHECKING:
    from moto.events.utils import EventMessageType

ROOT = Path(__file__).resolve().parents[2]

__all__ = [
    "EVENTS",
    "ROOT",
    "TEMPLATE",
    "event_patterns",
    "function_events",
    "load_event",
    "load_template",
    "resource",
    "rule_matches",
    "table_create_kwargs",
]


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/, e.g. ``"sqs-training-request.json"`` or
    ``"requests/training.json"`` (a fresh copy each time)."""
    sample: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return sample


def rule_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge (moto's) matches ``event``, a JSON event, to a rule's pattern."""
    return EventPattern.load(json.dumps(pattern)).matches_event(cast("EventMessageType", event))
