"""template.yaml and events/ for tests: tables, rules and samples come from the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobctl_tools.local.template import (
    EVENTS,
    TEMPLATE,
    event_patterns,
    function_events,
    load_template,
    resource,
    table_create_kwargs,
)

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
    "table_create_kwargs",
]


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/, e.g. ``"sqs-training-request.json"`` or
    ``"requests/training.json"`` (a fresh copy each time)."""
    sample: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return sample
