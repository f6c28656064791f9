"""Sample requests for tests: the files of events/requests/, changed where a test needs."""

from __future__ import annotations

from typing import Any

from tests.support.template import load_event


def request_body(name: str = "training.json", **changes: Any) -> dict[str, Any]:
    """A sample request from events/requests/, with top-level fields changed or removed (None)."""
    body = load_event(f"requests/{name}")
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body
