"""``/_sim/*``: what tests use to look inside the simulator and to steer it."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from aiohttp import web

from simulator.cloud_routes import store_media
from simulator.errors import SimError
from simulator.ids import wa_id_of, wamid
from simulator.keys import POSTER, STATE
from simulator.payloads import inbound_message, inbound_payload, status_payload
from simulator.state import ControlError, FailureRule
from simulator.validation import MEDIA_TYPES
from simulator.webhooks import encode

STATUSES = frozenset({"sent", "delivered", "read", "failed"})


def add_control_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/_sim/sends", list_sends)
    router.add_get("/_sim/sends/counts", send_counts)
    router.add_get("/_sim/rejected", list_rejected)
    router.add_get("/_sim/reads", list_reads)
    router.add_get("/_sim/webhooks/pending", pending_webhooks)
    router.add_post("/_sim/fail", add_failure)
    router.add_delete("/_sim/fail", clear_failures)
    router.add_get("/_sim/config", get_config)
    router.add_post("/_sim/config", set_config)
    router.add_post("/_sim/inbound", inject_inbound)
    router.add_post("/_sim/webhook", post_webhook)
    router.add_post("/_sim/status", post_status)
    router.add_post("/_sim/reset", reset)


async def control_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ControlError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def required_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ControlError(f"`{key}` is required (a non-empty string)")
    return value


async def list_sends(request: web.Request) -> web.Response:
    """Accepted sends, oldest first; ``?messageId=`` filters on ``biz_opaque_callback_data``."""
    wanted = request.query.get("messageId")
    sends = [s.to_json() for s in request.app[STATE].sends
             if wanted is None or s.message_id == wanted]
    return web.json_response({"sends": sends})


async def send_counts(request: web.Request) -> web.Response:
    return web.json_response({"counts": dict(request.app[STATE].counts)})


async def list_rejected(request: web.Request) -> web.Response:
    return web.json_response({"rejected": request.app[STATE].rejected})


async def list_reads(request: web.Request) -> web.Response:
    return web.json_response({"reads": request.app[STATE].reads})


async def pending_webhooks(request: web.Request) -> web.Response:
    """Webhook deliveries (statuses, inbound) not made yet: 0 once the simulator is quiet."""
    return web.json_response({"pending": request.app[POSTER].pending})


async def add_failure(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.rules.append(FailureRule.from_json(await control_body(request)))
    return web.json_response({"ok": True, "rules": len(state.rules)})


async def clear_failures(request: web.Request) -> web.Response:
    request.app[STATE].rules.clear()
    return web.json_response({"ok": True, "rules": 0})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].config.to_json())


async def set_config(request: web.Request) -> web.Response:
    config = request.app[STATE].config
    config.update(await control_body(request))
    return web.json_response(config.to_json())


async def inject_inbound(request: web.Request) -> web.Response:
    """Post a signed inbound-message webhook as a user would cause it; answer ingest's status."""
    body = await control_body(request)
    phone_number_id = required_str(body, "phoneNumberId")
    sender = wa_id_of(required_str(body, "from"))
    kind = body.get("type", "text")
    message_id = body.get("wamid") or wamid(sender)
    content = _inbound_content(request, body, kind, phone_number_id)
    message = inbound_message(sender, message_id, kind, content)
    if isinstance(body.get("context"), dict):
        message["context"] = body["context"]
    written_at = _written_at(body)
    message["timestamp"] = str(int(written_at))
    payload = inbound_payload(phone_number_id, sender, str(body.get("name", "Test User")), message)
    request.app[STATE].record_inbound(phone_number_id, sender, written_at)
    status = await _post(request, encode(payload), "inbound", retry=body.get("retry", True))
    return web.json_response({"wamid": message_id, "ingestStatus": status,
                              "mediaId": content.get("id") if kind in MEDIA_TYPES else None})


def _written_at(body: dict[str, Any]) -> float:
    """When the user wrote: now, or ``writtenAt`` (epoch seconds) to place it in the past."""
    at = body.get("writtenAt", time.time())
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise ControlError("`writtenAt` must be epoch seconds")
    return float(at)


def _inbound_content(
    request: web.Request, body: dict[str, Any], kind: Any, phone_number_id: str
) -> dict[str, Any]:
    if not isinstance(kind, str) or not kind:
        raise ControlError("`type` must be a message type")
    if kind == "text":
        return {"body": required_str(body, "text")}
    if kind in MEDIA_TYPES and "mediaBase64" in body:
        try:
            data = base64.b64decode(required_str(body, "mediaBase64"), validate=True)
        except (binascii.Error, ValueError):
            raise ControlError("`mediaBase64` is not valid base64") from None
        item = store_media(request, data, required_str(body, "mimeType"), phone_number_id)
        content: dict[str, Any] = {"id": item.id, "mime_type": item.mime_type,
                                   "sha256": item.sha256}
        if isinstance(body.get("caption"), str):
            content["caption"] = body["caption"]
        if kind == "document":
            content["filename"] = str(body.get("filename") or f"{item.id}.bin")
        if kind == "audio":
            content["voice"] = bool(body.get("voice", False))
        return content
    if isinstance(body.get(kind), dict):
        return dict(body[kind])
    raise ControlError(f"give `mediaBase64` and `mimeType`, or a `{kind}` object")


async def post_webhook(request: web.Request) -> web.Response:
    """Sign and post any payload (``signature`` overrides the header, for rejection tests)."""
    body = await control_body(request)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise ControlError("`payload` must be a JSON object")
    signed_as = body.get("signature")
    if signed_as is not None and not isinstance(signed_as, str):
        raise ControlError("`signature` must be a string")
    raw = encode(payload)
    if signed_as is not None:
        return web.json_response({
            "ingestStatus": await request.app[POSTER].post_once(raw, signed_as=signed_as)})
    status = await _post(request, raw, "raw", retry=body.get("retry", False))
    return web.json_response({"ingestStatus": status})


async def post_status(request: web.Request) -> web.Response:
    """Post one status of a recorded send now (e.g. ``failed`` with ``errors``)."""
    body = await control_body(request)
    status = required_str(body, "status")
    if status not in STATUSES:
        raise ControlError(f"`status` must be one of {sorted(STATUSES)}")
    send = request.app[STATE].send_of(required_str(body, "wamid"))
    if send is None:
        raise ControlError("no send with that `wamid`")
    errors = body.get("errors")
    if status == "failed" and errors is None:
        errors = [SimError(int(body.get("code", 131026))).webhook_error()]
    raw = encode(status_payload(send, status, errors=errors))
    return web.json_response({"ingestStatus": await _post(request, raw, "status", retry=True)})


async def _post(request: web.Request, raw: bytes, kind: str, *, retry: Any) -> int | None:
    poster = request.app[POSTER]
    status = await poster.post_once(raw)
    if retry:
        poster.retry_later(raw, kind=kind, first_status=status)
    return status


async def reset(request: web.Request) -> web.Response:
    request.app[POSTER].cancel_pending()
    request.app[STATE].reset()
    return web.json_response({"ok": True})
