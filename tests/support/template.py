"""template.yaml and events/ for tests: tables, patterns and samples come from the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobctl.local.template import event_patterns, load_template, resource, table_create_kwargs

EVENTS = Path(__file__).resolve().parents[2] / "events"

__all__ = ["event_patterns", "load_event", "load_template", "resource", "table_create_kwargs"]


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/ (a fresh copy each time)."""
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]
