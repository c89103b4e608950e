"""The Cloud API itself: send, mark as read, media upload/resolve/download/delete, number info."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from typing import Any

import structlog
from aiohttp import web

from shared.headers import AUTHORIZATION, bearer_token
from simulator.errors import SimError, bad_token, invalid
from simulator.ids import display_number, media_id, wa_id_of, wamid
from simulator.keys import METRICS, POSTER, STATE
from simulator.media_types import limit_for
from simulator.policies import check_send
from simulator.state import MediaItem, SendRecord
from simulator.validation import validate_read, validate_send

log = structlog.get_logger(__name__)
VERSION = re.compile(r"^v\d+(\.\d+)?$")


def add_cloud_routes(app: web.Application) -> None:
    app.router.add_get("/_sim/media/{media_id}", download_media)
    app.router.add_post("/{version}/{phone_number_id}/messages", send_message)
    app.router.add_post("/{version}/{phone_number_id}/media", upload_media)
    app.router.add_get("/{version}/{object_id}", get_object)
    app.router.add_delete("/{version}/{object_id}", delete_media)


def authorize(request: web.Request) -> None:
    """Any bearer token works except one starting with ``bad`` (401, code 190)."""
    token = bearer_token(request.headers.get(AUTHORIZATION))
    if token is None:
        raise SimError(190, "An active access token must be used to query this resource.",
                       details="No Bearer access token was sent.")
    if token.startswith("bad"):
        raise bad_token()


def _check_version(request: web.Request) -> None:
    version = request.match_info["version"]
    if not VERSION.match(version):
        raise SimError(2500, f"Unknown path components: /{version}", http_status=400)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None


async def send_message(request: web.Request) -> web.Response:
    """``POST /{v}/{phone_number_id}/messages``: a send, or a mark-as-read."""
    received_at = time.time()
    _check_version(request)
    authorize(request)
    phone_number_id = request.match_info["phone_number_id"]
    payload = await _json_body(request)
    if isinstance(payload, dict) and payload.get("status") == "read":
        request.app[STATE].record_read(phone_number_id, validate_read(payload))
        return web.json_response({"success": True})
    try:
        validate_send(payload)
    except SimError:
        request.app[METRICS].sends.labels("invalid").inc()
        raise
    return await _accept(request, phone_number_id, payload, received_at)


async def _accept(
    request: web.Request, phone_number_id: str, payload: dict[str, Any], received_at: float
) -> web.Response:
    state, poster = request.app[STATE], request.app[POSTER]
    to, callback = payload["to"], payload.get("biz_opaque_callback_data")
    try:
        check_send(state, phone_number_id, payload, received_at)
    except SimError as refused:
        state.rejected.append({"messageId": callback, "to": to, "code": refused.code,
                               "phoneNumberId": phone_number_id, "at": received_at})
        request.app[METRICS].sends.labels("policy").inc()
        raise
    rule = state.take_rule(to, phone_number_id)
    if rule is not None and rule.delay_seconds > 0:
        await asyncio.sleep(rule.delay_seconds)
    error = rule.error() if rule is not None else None
    if error is not None and rule is not None and not rule.asynchronous:
        state.rejected.append({"messageId": callback, "to": to, "code": error.code,
                               "phoneNumberId": phone_number_id, "at": received_at})
        request.app[METRICS].sends.labels("injected_error").inc()
        raise error
    record = SendRecord(
        wamid=wamid(wa_id_of(to)), phone_number_id=phone_number_id, to=to,
        type=payload["type"], message_id=callback, at=received_at, payload=payload,
    )
    state.record_send(record)
    request.app[METRICS].sends.labels("accepted").inc()
    if error is not None:
        poster.failure_for(record, [error.webhook_error()], state.config.status_delay_seconds)
    elif state.config.auto_statuses:
        poster.statuses_for(record, state.config)
    log.debug("send_accepted", wamid=record.wamid, type=record.type)
    message: dict[str, Any] = {"id": record.wamid}
    if record.type == "template":
        message["message_status"] = "accepted"
    return web.json_response({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id_of(to)}],
        "messages": [message],
    })


async def upload_media(request: web.Request) -> web.Response:
    """``POST /{v}/{phone_number_id}/media``: multipart file, type and messaging_product."""
    _check_version(request)
    authorize(request)
    form = await request.post()
    if form.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise invalid("The parameter file is required.")
    mime = form.get("type")
    if not isinstance(mime, str) or not mime:
        raise invalid("The parameter type is required.")
    data = upload.file.read()
    limit = limit_for(mime)
    if limit is None:
        raise invalid(f"Param file must be a file of a supported type; {mime!r} is not.")
    if len(data) > limit:
        raise invalid(f"Param file is too large for {mime}: {len(data)} > {limit} bytes.")
    item = store_media(request, data, mime, request.match_info["phone_number_id"])
    return web.json_response({"id": item.id})


def store_media(request: web.Request, data: bytes, mime: str, phone_number_id: str) -> MediaItem:
    """Keep ``data`` in memory under a fresh media id."""
    item = MediaItem(
        id=media_id(), data=data, mime_type=mime,
        sha256=hashlib.sha256(data).hexdigest(), phone_number_id=phone_number_id,
    )
    request.app[STATE].media[item.id] = item
    return item


async def get_object(request: web.Request) -> web.Response:
    """``GET /{v}/{id}``: a media id resolves to its URL; any other id is a phone number."""
    _check_version(request)
    authorize(request)
    object_id = request.match_info["object_id"]
    item = request.app[STATE].media.get(object_id)
    if item is not None:
        return web.json_response({
            "messaging_product": "whatsapp",
            "url": f"{request.scheme}://{request.host}/_sim/media/{item.id}",
            "mime_type": item.mime_type, "sha256": item.sha256,
            "file_size": len(item.data), "id": item.id,
        })
    return web.json_response({
        "id": object_id, "display_phone_number": display_number(object_id),
        "verified_name": "Relay Test Business", "quality_rating": "GREEN",
    })


async def delete_media(request: web.Request) -> web.Response:
    """``DELETE /{v}/{media_id}`` → ``{"success": true}``."""
    _check_version(request)
    authorize(request)
    if request.app[STATE].media.pop(request.match_info["object_id"], None) is None:
        raise invalid("Unsupported delete request: no media with that id.")
    return web.json_response({"success": True})


async def download_media(request: web.Request) -> web.Response:
    """The short-lived download URL; it needs the same Bearer token."""
    authorize(request)
    item = request.app[STATE].media.get(request.match_info["media_id"])
    if item is None:
        raise web.HTTPNotFound(text="no media with that id")
    return web.Response(body=item.data, content_type=item.mime_type.split(";")[0])
