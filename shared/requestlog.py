"""Request ids and the access log of the HTTP services (gateway and ingest).

:func:`install` puts :func:`request_log_middleware` outermost on an app: each request takes the
caller's ``X-Request-Id`` when it is short and made of safe characters (else a fresh one),
carries it in the log context of everything logged while it is handled, returns it in the
``X-Request-Id`` response header (streamed responses included), and ends with one
``http_request`` line: method, path (never the query string, which may hold a verify token),
status, duration in milliseconds and the request id.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

HEADER = "X-Request-Id"
MAX_LENGTH = 128
SAFE = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MAX_LENGTH}}}")
REQUEST_ID = web.RequestKey("relay_request_id", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = structlog.get_logger("relay.http")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is 1-128 characters of ``A-Z a-z 0-9 . _ : -``, else a new one."""
    if header is not None and SAFE.fullmatch(header):
        return header
    return uuid.uuid4().hex


@web.middleware
async def request_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the request id, answer with it, and log one access line per request."""
    request_id = request_id_from(request.headers.get(HEADER))
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[HEADER] = request_id
            raise
        finally:
            log.info("http_request", method=request.method, path=request.path, status=status,
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))


async def _add_header(request: web.Request, response: web.StreamResponse) -> None:
    if REQUEST_ID in request:
        response.headers[HEADER] = request[REQUEST_ID]


def install(app: web.Application) -> None:
    """Add the request-id and access-log middleware to ``app``, outermost."""
    app.middlewares.insert(0, request_log_middleware)
    app.on_response_prepare.append(_add_header)
