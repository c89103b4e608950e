"""The contract's envelope: ``{"success": true, "data"}`` and
``{"success": false, "message", "code", "details"}``, and the middleware that maps every failure
to it — a clear 4xx for a client's mistake, a logged 500 without internals for anything else."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure

from shared.broker import PublishError

log = structlog.get_logger("relay.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CODES_BY_STATUS = {
    400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """A failure answer: HTTP status, a code for programs and a message for people."""

    def __init__(
        self, status: int, message: str, code: str | None = None,
        details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODES_BY_STATUS.get(status, "VALIDATION_ERROR")
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"success": False, "message": self.message, "code": self.code,
                "details": self.details}


def validation_error(message: str, field: str | None = None) -> ApiError:
    details = [{"field": field, "message": message}] if field else []
    return ApiError(400, message, "VALIDATION_ERROR", details)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found", "NOT_FOUND")


def conflict(message: str) -> ApiError:
    return ApiError(409, message, "CONFLICT")


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: object) -> str:
    """JSON with ISO-8601 UTC timestamps (``…Z``)."""
    return json.dumps(value, default=_default, separators=(",", ":"))


def ok(data: Any, *, status: int = 200, message: str | None = None) -> web.Response:
    """A success answer in the envelope."""
    body: dict[str, Any] = {"success": True}
    if message is not None:
        body["message"] = message
    body["data"] = data
    return web.json_response(body, status=status, dumps=dumps)


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers, dumps=dumps)


def from_validation(exc: ValidationError) -> ApiError:
    """A 400 naming each wrong field and what was wrong with it."""
    details: list[dict[str, Any]] = []
    for item in exc.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or None
        what = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            what = "Unknown field"
        details.append({"field": where, "message": what})
    field, text = (details[0]["field"], details[0]["message"]) if details else (None, "Invalid")
    summary = f"{field}: {text}" if field else str(text)
    if len(details) == 1 and str(text).startswith("Phone number"):
        summary = str(text)
    return ApiError(400, summary, "VALIDATION_ERROR", details)


def _from_http(exc: web.HTTPException) -> ApiError:
    messages = {
        404: "Route not found", 405: f"Method {exc.reason} not allowed here",
        413: "Request body is too large", 415: "Unsupported media type",
    }
    message = messages.get(exc.status) or exc.text or exc.reason
    if exc.status == 405:
        message = "Method not allowed on this route"
    return ApiError(exc.status, str(message), headers={
        k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")
    })


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to the envelope; nothing a client sends can produce a 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except ValidationError as exc:
        return error_response(from_validation(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http(exc))
    except (ConnectionFailure, PublishError) as exc:
        log.warning("dependency_unavailable", path=request.path, error=repr(exc)[:300])
        return error_response(ApiError(503, "A dependency is unavailable; try again shortly",
                                       "SERVICE_UNAVAILABLE", headers={"Retry-After": "1"}))
    except Exception:
        log.exception("unhandled_error", path=request.path, method=request.method)
        return error_response(ApiError(500, "Internal server error", "INTERNAL_ERROR"))
