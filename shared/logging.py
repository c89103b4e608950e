"""Structured logging: JSON lines (or console) through structlog, stdlib logs included.

Relay's own loggers (``structlog.get_logger``) and the standard library's (aiohttp, pymongo,
aio-pika, …) go through the same processors, so stderr carries one JSON object per line. Secrets
are redacted at any depth: a value whose key names a secret (``token``, ``accessToken``,
``authorization``, …) becomes ``[redacted]`` wherever it sits in dicts, lists and tuples.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"
# Compared without case, "-" and "_": accessToken, access_token and Access-Token are one key.
SECRET_KEYS = frozenset({
    "accesstoken", "token", "apikey", "authorization", "appsecret", "secret", "secretkey",
    "password", "verifytoken", "hubverifytoken", "cookie", "setcookie", "xhubsignature256",
    "webhooksecret", "clientsecret", "refreshtoken", "signature",
})
REDACTED_KEYS = SECRET_KEYS  # the name this module exported before
MAX_DEPTH = 20
QUIET_LOGGERS = ("aiormq", "aio_pika", "pymongo", "aiohttp.access", "asyncio")
HANDLER_NAME = "relay-structlog"


def is_secret_key(key: object) -> bool:
    """True when a mapping key names a secret (``accessToken``, ``X-Hub-Signature-256``, …)."""
    if not isinstance(key, str):
        return False
    folded = key.lower().replace("-", "").replace("_", "").replace(".", "")
    return folded in SECRET_KEYS


def redact(value: object, depth: int = 0) -> object:
    """``value`` with every secret-named entry replaced, at any depth (copies, never mutates)."""
    if depth > MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_key(k) else redact(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item, depth + 1) for item in value]
    return value


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in list(event.items()):
        event[key] = REDACTED if is_secret_key(key) else redact(value)
    return event


def _shared_processors(service: str) -> list[Processor]:
    def add_service(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)  # a processor, not a contextvar: threads get it too
        return event

    return [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]


def configure(
    service: str, *, level: str = "INFO", fmt: str = "json", stream: TextIO | None = None,
    cache: bool = True,
) -> None:
    """Send every log line (structlog's and the standard library's) to ``stream`` (stderr) as
    one JSON object carrying ``service``. ``cache=False`` lets tests configure again."""
    out = stream or sys.stderr
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*_shared_processors(service), structlog.processors.format_exc_info,
                    renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=cache,
    )
    _route_stdlib(service, out, renderer)


def _route_stdlib(service: str, out: TextIO, renderer: Processor) -> None:
    """Replace the root logger's handlers with one that renders through structlog."""
    handler = logging.StreamHandler(out)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(),
                           *_shared_processors(service),
                           structlog.processors.format_exc_info],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == HANDLER_NAME or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)  # Python warnings become JSON lines too (py.warnings)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
