"""The HTTP side: Meta's handshake, and the signed POST that lands on the durable inbox.

The POST does no database work: it checks the size and the signature, checks that the body is
JSON, publishes the raw verified bytes to the inbox with a publisher confirm, and only then
answers 200. Anything else answers a 4xx (nothing stored) or 503 (broker away: Meta retries).
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

import structlog
from aiohttp import web

from ingest.keys import CONNECTED, METRICS, PUBLISHER, SETTINGS
from shared import topology
from shared.broker import PublishError
from shared.headers import HUB_SIGNATURE, RECEIVED_AT
from shared.secrets import signature_valid

log = structlog.get_logger("relay.ingest.webhook")

MAX_BODY_BYTES = 1024 * 1024
PUBLISH_TIMEOUT_SECONDS = 5.0


def _refuse(status: int, code: str, message: str) -> web.Response:
    body = {"success": False, "message": message, "code": code, "details": []}
    return web.json_response(body, status=status)


async def verify(request: web.Request) -> web.Response:
    """``GET /webhooks/whatsapp``: echo ``hub.challenge`` when mode and token are right."""
    query = request.query
    expected = request.app[SETTINGS].whatsapp_verify_token
    if query.get("hub.mode") == "subscribe" and _same(query.get("hub.verify_token"), expected):
        return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")
    return _refuse(403, "FORBIDDEN", "Webhook verification failed: wrong mode or verify token")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def receive(request: web.Request) -> web.Response:
    """``POST /webhooks/whatsapp``: verify, enqueue with a confirm, then 200."""
    metrics = request.app[METRICS]
    raw = await _read_capped(request)
    if raw is None:
        metrics.webhooks.labels("too_large").inc()
        return _refuse(413, "PAYLOAD_TOO_LARGE",
                       f"Webhook body larger than {MAX_BODY_BYTES} bytes")
    secret = request.app[SETTINGS].whatsapp_app_secret
    if not signature_valid(secret, raw, request.headers.get(HUB_SIGNATURE)):
        metrics.webhooks.labels("bad_signature").inc()
        log.warning("webhook_bad_signature", has_header=HUB_SIGNATURE in request.headers)
        return _refuse(401, "UNAUTHORIZED", "Missing or invalid X-Hub-Signature-256")
    if not _is_json_object(raw):
        metrics.webhooks.labels("bad_json").inc()
        return _refuse(400, "VALIDATION_ERROR", "Webhook body must be a JSON object")
    if not await _enqueue(request, raw):
        metrics.webhooks.labels("broker_down").inc()
        return _refuse(503, "SERVICE_UNAVAILABLE", "Inbox unavailable; retry later")
    metrics.webhooks.labels("accepted").inc()
    return web.json_response({"success": True})


async def _read_capped(request: web.Request) -> bytes | None:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json_object(raw: bytes) -> bool:
    try:
        parsed: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(parsed, dict)


async def _enqueue(request: web.Request, raw: bytes) -> bool:
    publisher = request.app[PUBLISHER]
    if not (request.app[CONNECTED].is_set() and publisher.is_connected):
        return False
    try:
        await publisher.publish(
            topology.REDELIVER, topology.INBOX_KEY, raw,
            headers={RECEIVED_AT: f"{time.time():.6f}"}, timeout=PUBLISH_TIMEOUT_SECONDS,
        )
    except PublishError as exc:
        log.warning("webhook_enqueue_failed", error=str(exc)[:300])
        return False
    return True


def add_routes(app: web.Application) -> None:
    app.router.add_get("/webhooks/whatsapp", verify)
    app.router.add_post("/webhooks/whatsapp", receive)
