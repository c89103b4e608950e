"""Message templates per WABA, as Meta keeps them: list (paged), create (``PENDING``, reviewed
after ``templateReviewSeconds``, then a signed ``message_template_status_update`` webhook), and
the control routes that seed approved templates and reject one on demand."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from typing import Any

import structlog
from aiohttp import web

from simulator.cloud_routes import VERSION, authorize
from simulator.control_routes import control_body, required_str
from simulator.errors import SimError, invalid
from simulator.ids import media_id
from simulator.keys import POSTER, STATE
from simulator.state import ControlError, SimState, SimTemplate
from simulator.webhooks import WebhookPoster, encode

log = structlog.get_logger(__name__)

NAME = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
STATUSES = frozenset({"APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"})
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
FIELD = "message_template_status_update"


def add_template_routes(app: web.Application) -> None:
    app.router.add_get("/_sim/templates", list_control)
    app.router.add_post("/_sim/templates", seed)
    app.router.add_post("/_sim/templates/reject", reject)
    app.router.add_get("/{version}/{waba_id}/message_templates", list_templates)
    app.router.add_post("/{version}/{waba_id}/message_templates", create_template)


def _cloud_call(request: web.Request) -> str:
    if not VERSION.match(request.match_info["version"]):
        raise SimError(2500, f"Unknown path components: /{request.match_info['version']}",
                       http_status=400)
    authorize(request)
    return request.match_info["waba_id"]


async def list_templates(request: web.Request) -> web.Response:
    """``GET /{v}/{waba-id}/message_templates[?limit=&after=]``: one page, oldest first, with
    ``paging.cursors`` and ``paging.next`` while more follow."""
    waba_id = _cloud_call(request)
    limit = _limit(request.query.get("limit"))
    start = _offset(request.query.get("after"))
    every = request.app[STATE].templates_of(waba_id)
    page = every[start:start + limit]
    body: dict[str, Any] = {"data": [t.to_json() for t in page]}
    if page:
        after = _cursor(start + len(page))
        body["paging"] = {"cursors": {"before": _cursor(start), "after": after}}
        if start + len(page) < len(every):
            body["paging"]["next"] = (
                f"{request.scheme}://{request.host}{request.path}?limit={limit}&after={after}")
    return web.json_response(body)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid(f"Param limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(raw)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(after: str | None) -> int:
    if not after:
        return 0
    try:
        text = base64.urlsafe_b64decode(after.encode()).decode()
    except (binascii.Error, ValueError):
        raise invalid("Param after is not a valid cursor.") from None
    if not text.startswith("offset:") or not text[7:].isdigit():
        raise invalid("Param after is not a valid cursor.")
    return int(text[7:])


async def create_template(request: web.Request) -> web.Response:
    """``POST /{v}/{waba-id}/message_templates`` → ``{id, status: PENDING, category}``; the
    review then approves it (or rejects it, on demand) and posts the status webhook."""
    waba_id = _cloud_call(request)
    try:
        body = await request.json()
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    template = _valid_template(waba_id, body)
    state = request.app[STATE]
    if state.template(waba_id, template.name, template.language) is not None:
        raise SimError(100, "Invalid parameter", subcode=2388024, details=(
            f"Content in {template.language} already exists for {template.name}."))
    state.add_template(template)
    delay = state.config.template_review_seconds
    poster = request.app[POSTER]
    poster.spawn(lambda: _review(state, poster, template, delay))
    return web.json_response({"id": template.id, "status": "PENDING",
                              "category": template.category})


def _valid_template(waba_id: str, body: Any) -> SimTemplate:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    name, language = body.get("name"), body.get("language")
    if not isinstance(name, str) or not NAME.match(name):
        raise invalid("Param name must be lowercase letters, digits and underscores.")
    if not isinstance(language, str) or not language:
        raise invalid("Param language is required.")
    category = body.get("category")
    if not isinstance(category, str) or category.upper() not in CATEGORIES:
        raise invalid(f"Param category must be one of {sorted(CATEGORIES)}.")
    components = body.get("components")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components) \
            or not any(str(c.get("type", "")).upper() == "BODY" for c in components):
        raise invalid("Param components must be a list of objects with a BODY component.")
    return SimTemplate(id=media_id(), waba_id=waba_id, name=name, language=language,
                       category=category.upper(), components=components)


async def _review(
    state: SimState, poster: WebhookPoster, template: SimTemplate, delay: float
) -> None:
    await asyncio.sleep(delay)
    reason = state.rejections.pop(template.name, None)
    await _move(state, poster, template, "REJECTED" if reason else "APPROVED", reason)


async def _move(
    state: SimState, poster: WebhookPoster, template: SimTemplate, event: str,
    reason: str | None,
) -> None:
    template.status = event
    template.rejected_reason = reason if event == "REJECTED" else None
    await poster.deliver(encode(status_update(template, event, reason)), kind="template")
    log.debug("template_reviewed", name=template.name, status=event)


def _move_later(
    state: SimState, poster: WebhookPoster, template: SimTemplate, reason: str
) -> None:
    poster.spawn(lambda: _move(state, poster, template, "REJECTED", reason))


def status_update(template: SimTemplate, event: str, reason: str | None) -> dict[str, Any]:
    """A ``message_template_status_update`` webhook as Meta posts it."""
    value = {
        "event": event, "message_template_id": int(template.id),
        "message_template_name": template.name,
        "message_template_language": template.language, "reason": reason or "NONE",
    }
    return {"object": "whatsapp_business_account", "entry": [{
        "id": template.waba_id, "time": int(time.time()),
        "changes": [{"field": FIELD, "value": value}],
    }]}


async def list_control(request: web.Request) -> web.Response:
    """``GET /_sim/templates?wabaId=``: every template of the WABA, whatever its status."""
    waba_id = request.query.get("wabaId", "")
    templates = [t.to_json() for t in request.app[STATE].templates_of(waba_id)]
    return web.json_response({"templates": templates})


async def seed(request: web.Request) -> web.Response:
    """``{"wabaId", "templates": [{name, language, category?, components, status?}]}``: stored
    at once (APPROVED unless ``status`` says otherwise), with no review and no webhook."""
    body = await control_body(request)
    waba_id = required_str(body, "wabaId")
    items = body.get("templates")
    if not isinstance(items, list) or not items:
        raise ControlError("`templates` must be a non-empty list")
    made = [_seeded(waba_id, item) for item in items]
    for template in made:
        request.app[STATE].add_template(template)
    return web.json_response({"templates": [t.to_json() for t in made]})


def _seeded(waba_id: str, item: Any) -> SimTemplate:
    if not isinstance(item, dict):
        raise ControlError("every template must be an object")
    status = str(item.get("status", "APPROVED")).upper()
    if status not in STATUSES:
        raise ControlError(f"`status` must be one of {sorted(STATUSES)}")
    try:
        template = _valid_template(waba_id, {"category": "UTILITY", **item})
    except SimError as exc:
        raise ControlError(exc.details) from None
    template.status = status
    return template


async def reject(request: web.Request) -> web.Response:
    """``{"name", "reason"?, "wabaId"?, "language"?}``: the template ``name`` is REJECTED —
    now (with its webhook) if it was already reviewed, else when its review ends."""
    body = await control_body(request)
    name = required_str(body, "name")
    reason = str(body.get("reason") or "INVALID_FORMAT")
    state, poster = request.app[STATE], request.app[POSTER]
    reviewed = [t for waba, by_key in state.templates.items() for t in by_key.values()
                if t.name == name and t.status != "PENDING" and body.get("wabaId") in (None, waba)
                and body.get("language") in (None, t.language)]
    for template in reviewed:
        _move_later(state, poster, template, reason)
    if not reviewed:
        state.rejections[name] = reason
    return web.json_response({"ok": True, "rejectedNow": len(reviewed)})
