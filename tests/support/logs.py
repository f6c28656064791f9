"""The controller's log lines, as its Powertools logger writes them."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Logs:
    """What the controller's Powertools logger writes (JSON lines). Its handler holds the
    stream it was made with, so pytest's capsys never sees these lines."""

    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]


@contextlib.contextmanager
def captured_logs(logger: str = "jobctl") -> Iterator[Logs]:
    """Point ``logger``'s stream handlers at one buffer while the block runs."""
    stream = io.StringIO()
    handlers = [
        handler
        for handler in logging.getLogger(logger).handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        yield Logs(stream)
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)
