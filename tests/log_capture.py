"""Relay's logging configured into a buffer for one test, then put back as structlog's default."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from shared.logging import HANDLER_NAME, configure


class Captured:
    """Every line written while configured; :meth:`records` parses them (each must be JSON)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == name]


@contextmanager
def captured_logs(service: str = "test", level: str = "INFO") -> Iterator[Captured]:
    """``configure(service)`` writing JSON into a buffer (loggers not cached), undone after."""
    captured = Captured()
    configure(service, level=level, fmt="json", stream=captured.stream, cache=False)
    try:
        yield captured
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if handler.get_name() == HANDLER_NAME:
                root.removeHandler(handler)
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
