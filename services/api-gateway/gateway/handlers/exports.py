"""``GET /messages/export``: the list's filters, every match, streamed as a file."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from gateway import keys
from gateway.auth import principal_of
from gateway.export import MEDIA_TYPES, ExportFormat, MongoMessageSource, export
from gateway.handlers.messages import TAG, ListMessagesQuery
from gateway.keyset import MAX_CURSOR
from gateway.parsing import parse_query
from gateway.spec import operation
from gateway.tenancy import own_account
from shared.models import utcnow

log = structlog.get_logger("relay.gateway.export")
NO_PAGES = "an export has every matching message: page, limit and cursor do not apply"


class ExportQuery(ListMessagesQuery):
    """The filters of ``GET /messages`` and the file's ``format``; no pages."""

    format: ExportFormat = Field(ExportFormat.CSV, description="`csv` (RFC 4180, a header row) "
                                 "or `ndjson` (one JSON message a line).")
    page: SkipJsonSchema[int] = Field(1, ge=1)
    limit: SkipJsonSchema[int] = Field(50, ge=1)
    cursor: SkipJsonSchema[str | None] = Field(None, max_length=MAX_CURSOR)

    @field_validator("page", "limit", "cursor")
    @classmethod
    def _no_pages(cls, value: Any) -> Any:
        raise ValueError(NO_PAGES)


def file_name(fmt: ExportFormat) -> str:
    return f"messages-{utcnow():%Y-%m-%d}.{fmt.value}"


@operation(summary="Export messages (CSV or NDJSON), newest first", tag=TAG,
           scope="messages:read", query=ExportQuery, errors=(400, 401, 403, 404, 429),
           produces=", ".join(MEDIA_TYPES.values()))
async def export_messages(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, ExportQuery)
    principal = principal_of(request)
    await own_account(request.app[keys.DB], principal.user_id, query.whatsapp_account_id)
    with request.app[keys.EXPORTS].hold(principal.key_hash):
        return await _stream(request, query.format, query.mongo(principal.user_id))


async def _stream(request: web.Request, fmt: ExportFormat,
                  where: dict[str, Any]) -> web.StreamResponse:
    """The file, written batch by batch as it is read; a client gone stops the reading."""
    response = web.StreamResponse(headers={
        "Content-Type": f"{MEDIA_TYPES[fmt]}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{file_name(fmt)}"',
    })
    response.enable_chunked_encoding()
    await response.prepare(request)
    app = request.app
    try:
        written = await export(MongoMessageSource(app[keys.DB].messages), where, fmt,
                               response.write, on_rows=app[keys.METRICS].exported_rows.labels(
                                   fmt.value).inc)
    except ConnectionResetError:  # the client went away: stop reading at once
        log.info("export_stopped", user_id=where["userId"], reason="client disconnected")
        return response
    except Exception as exc:
        # The status is sent: cut the connection, so that no final chunk tells the client
        # that the file is whole.
        log.error("export_failed", user_id=where["userId"], error=repr(exc)[:300])
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    log.info("export_done", user_id=where["userId"], rows=written, format=fmt.value)
    return response
