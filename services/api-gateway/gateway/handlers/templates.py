"""An account's message templates: list them, sync them from Meta, create one at Meta.

Each route first finds the caller's own account (anyone else's answers 404); Meta is asked with
the account's access token and its ``wabaId``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BeforeValidator, Field, field_validator

from gateway import keys
from gateway.auth import principal_of
from gateway.errors import ApiError, conflict, not_found, ok, validation_error
from gateway.parsing import Body, parse_body, parse_query
from gateway.present import PageQuery
from gateway.schemas import SyncOut, TemplateList, TemplateOut
from gateway.spec import operation
from shared.template_registry import Failure, TemplateError
from shared.templates import Template

TAG = "Templates"
NAME = r"^[a-z0-9_]{1,512}$"
LANGUAGE = r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$"
MAX_DEPTH = 12
Category = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class CreateTemplateBody(Body):
    """A template to submit to Meta for approval (``components`` exactly as Meta takes them)."""

    name: str = Field(pattern=NAME, description=(
        "Lowercase letters, digits and underscores, at most 512 characters."))
    language: str = Field(pattern=LANGUAGE, description="A language code such as `en_US`.")
    category: Annotated[Category, BeforeValidator(_upper)] = Field(
        description="MARKETING, UTILITY or AUTHENTICATION (any case).")
    components: list[dict[str, Any]] = Field(min_length=1, json_schema_extra={
        "contains": {"type": "object", "required": ["type"],
                     "properties": {"type": {"enum": ["BODY", "body"]}}}}, description=(
        "Meta's components (HEADER, BODY, FOOTER, BUTTONS); a BODY is required."))

    @field_validator("components")
    @classmethod
    def _components(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not any(str(c.get("type", "")).upper() == "BODY" for c in value):
            raise ValueError("must include a BODY component")
        storable(value)
        return value


def storable(value: Any, depth: int = 0) -> None:
    """Refuse what JSON allows but a database document cannot hold: integers beyond 64 bits,
    keys with NUL or a leading ``$``, nesting deeper than :data:`MAX_DEPTH`."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
        raise ValueError("holds an integer beyond 64 bits")
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key or key.startswith("$"):
                raise ValueError(f"holds a key WhatsApp never uses: {key[:40]!r}")
            storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable(item, depth + 1)


def template_out(template: Template) -> dict[str, Any]:
    """A template as the API shows it."""
    return {
        "id": template.id, "name": template.name, "language": template.language,
        "category": template.category, "status": template.status.value,
        "components": template.components, "rejectedReason": template.rejected_reason,
        "updatedAt": template.updated_at,
    }


async def _account(request: web.Request) -> dict[str, Any]:
    """The caller's account named in the path (with its encrypted token); 404 otherwise."""
    doc = await request.app[keys.DB].accounts.find_one(
        {"_id": request.match_info["id"], "userId": principal_of(request).user_id})
    if doc is None:
        raise not_found("WhatsApp account")
    return doc


def _http_error(exc: TemplateError) -> ApiError:
    if exc.failure == Failure.NO_WABA:
        return validation_error(exc.message, "wabaId")
    if exc.failure == Failure.NO_ACCOUNT:
        return not_found("WhatsApp account")
    if exc.failure == Failure.EXISTS:
        return conflict(exc.message)
    if exc.failure == Failure.REFUSED:
        return ApiError(400, exc.message, "WHATSAPP_API_ERROR")
    if exc.failure == Failure.TOKEN:
        return ApiError(400, exc.message, "WHATSAPP_ACCOUNT_NOT_CONNECTED")
    return ApiError(502, exc.message, "WHATSAPP_API_ERROR")


@operation(summary="List an account's message templates", tag=TAG, scope="templates:read",
           query=PageQuery, response=TemplateList, errors=(400, 401, 403, 404))
async def list_templates(request: web.Request) -> web.Response:
    page = parse_query(request, PageQuery)
    account = await _account(request)
    found, total = await request.app[keys.TEMPLATES].store.page(
        account["_id"], page=page.page, limit=page.limit)
    return ok({"templates": [template_out(t) for t in found], "total": total,
               "page": page.page, "limit": page.limit,
               "totalPages": math.ceil(total / page.limit)})


@operation(summary="Sync an account's templates from WhatsApp", tag=TAG,
           scope="templates:write", response=SyncOut, errors=(400, 401, 403, 404, 502))
async def sync_templates(request: web.Request) -> web.Response:
    account = await _account(request)
    try:
        counts = await request.app[keys.TEMPLATES].sync(account)
    except TemplateError as exc:
        raise _http_error(exc) from None
    return ok({"added": counts.added, "updated": counts.updated, "removed": counts.removed})


@operation(summary="Create a message template at WhatsApp", tag=TAG, scope="templates:write",
           body=CreateTemplateBody, response=TemplateOut, status=201,
           errors=(400, 401, 403, 404, 409, 502))
async def create_template(request: web.Request) -> web.Response:
    body = await parse_body(request, CreateTemplateBody)
    account = await _account(request)
    try:
        template = await request.app[keys.TEMPLATES].create(
            account, name=body.name, language=body.language, category=body.category,
            components=body.components)
    except TemplateError as exc:
        raise _http_error(exc) from None
    return ok(template_out(template), status=201)
