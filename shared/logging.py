"""Structured logging: JSON lines (or console) through structlog, stdlib logs included."""

from __future__ import annotations

import logging
import sys

import structlog

REDACTED_KEYS = frozenset({"access_token", "accessToken", "api_key", "apiKey", "authorization",
                           "app_secret", "token", "secret"})


def _redact(_: object, __: str, event: dict[str, object]) -> dict[str, object]:
    for key in REDACTED_KEYS & event.keys():
        event[key] = "[redacted]"
    return event


def configure(service: str, *, level: str = "INFO", fmt: str = "json") -> None:
    """Send every log line to stderr as one JSON object carrying ``service``."""
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(message)s")
    for noisy in ("aiormq", "aio_pika", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
