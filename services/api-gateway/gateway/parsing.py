"""Turning a request's JSON body and query string into pydantic models, safely.

Query keys that could smuggle MongoDB operators (``status[$ne]``, ``$where``) and repeated keys
are refused before any model sees them.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from gateway.errors import ApiError, from_validation, validation_error

M = TypeVar("M", bound=BaseModel)
FORBIDDEN_QUERY_CHARS = frozenset("[]$")
# JSON bodies are small; the app's client_max_size is larger only for media uploads.
MAX_JSON_BODY = 256 * 1024
# Meta's deepest objects (template components, interactive lists) nest under ten levels; MongoDB
# refuses documents nested beyond 100, and Python's parser recurses once per level.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"Request body is nested more than {MAX_JSON_DEPTH} levels deep"


class Body(BaseModel):
    """Base of request bodies: camelCase, unknown fields refused by name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              str_strip_whitespace=False)


class Query(BaseModel):
    """Base of query-string models: camelCase; unknown keys refused too."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong with it (413 if too large)."""
    if (request.content_length or 0) > MAX_JSON_BODY:
        raise ApiError(413, f"Request body is larger than {MAX_JSON_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_JSON_BODY:
        raise ApiError(413, f"Request body is larger than {MAX_JSON_BODY} bytes")
    if not raw.strip():
        raise validation_error("Request body must be a JSON object")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error(f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise validation_error(TOO_DEEP) from None
    if not isinstance(value, dict):
        raise validation_error("Request body must be a JSON object")
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise validation_error(TOO_DEEP)
    try:  # a "\ud800" escape decodes to a lone surrogate, which no database can store
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise validation_error("Request body contains a lone UTF-16 surrogate (an invalid "
                               "\\uXXXX escape)") from None
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels (no recursion)."""
    level: list[object] = [value]
    for _ in range(limit):
        level = [child for item in level
                 for child in (item.values() if isinstance(item, dict)
                               else item if isinstance(item, list) else ())
                 if isinstance(child, dict | list)]
        if not level:
            return False
    return True


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate the JSON body against ``model`` (a :class:`Body`)."""
    data = await read_json(request)
    return validate(model, data)


def validate(model: type[M], data: dict[str, Any]) -> M:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def query_dict(request: web.Request) -> dict[str, str]:
    """The query string as a flat dict; operator-looking and repeated keys refused."""
    result: dict[str, str] = {}
    for key, value in request.query.items():
        if FORBIDDEN_QUERY_CHARS & set(key):
            raise ApiError(400, f"Query parameter {key!r} is not allowed", "VALIDATION_ERROR",
                           [{"field": key, "message": "Operators are not accepted in queries"}])
        if key in result:
            raise validation_error(f"Query parameter {key!r} is repeated", key)
        result[key] = value
    return result


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string against ``model`` (a :class:`Query`)."""
    return validate(model, query_dict(request))
