"""Checks a send payload as the Cloud API does; every failure is code 100, HTTP 400."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.message_parts import check_emoji, check_interactive
from simulator.errors import invalid

TEXT_MAX = 4096
CAPTION_MAX = 1024
CALLBACK_DATA_MAX = 512
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
OTHER_TYPES = frozenset({"text", "template", "location", "contacts", "interactive", "reaction"})
MESSAGE_TYPES = MEDIA_TYPES | OTHER_TYPES


def validate_send(payload: Any) -> None:
    """Raise :class:`~simulator.errors.SimError` when Meta would refuse ``payload``."""
    if not isinstance(payload, dict):
        raise invalid("The request body must be a JSON object.")
    if payload.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    _check_to(payload.get("to"))
    kind = payload.get("type")
    if not kind:
        raise invalid("The parameter type is required.")
    if kind not in MESSAGE_TYPES:
        raise invalid(f"Param type must be one of {sorted(MESSAGE_TYPES)}; got {kind!r}.")
    body = payload.get(kind)
    if not isinstance(body, dict):
        raise invalid(f"The parameter {kind} is required and must be an object.")
    if kind == "text":
        _check_text(body)
    elif kind in MEDIA_TYPES:
        _check_media(kind, body)
    elif kind == "template":
        _check_template(body)
    elif kind in PART_CHECKS:
        PART_CHECKS[kind](body)
    _check_callback_data(payload.get("biz_opaque_callback_data"))


def validate_read(payload: dict[str, Any]) -> str:
    """The ``message_id`` of a mark-as-read request, or raise."""
    if payload.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    message_id = payload.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise invalid("The parameter message_id is required.")
    return message_id


def _check_to(to: Any) -> None:
    if not isinstance(to, str) or not to.strip():
        raise invalid("The parameter to is required.")
    digits = to.strip().removeprefix("+").replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 5 <= len(digits) <= 15:
        raise invalid(f"Param to must be a phone number; got {to!r}.")


def _check_text(body: dict[str, Any]) -> None:
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise invalid("The parameter text['body'] is required.")
    if len(text) > TEXT_MAX:
        raise invalid(f"Param text['body'] must be at most {TEXT_MAX} characters long.")
    if "preview_url" in body and not isinstance(body["preview_url"], bool):
        raise invalid("Param text['preview_url'] must be a boolean.")


def _check_media(kind: str, body: dict[str, Any]) -> None:
    has_id, has_link = bool(body.get("id")), bool(body.get("link"))
    if has_id == has_link:
        raise invalid(f"Param {kind} must have exactly one of 'id' or 'link'.")
    link = body.get("link")
    if has_link and (not isinstance(link, str) or not link.startswith(("http://", "https://"))):
        raise invalid(f"Param {kind}['link'] must be an HTTP(S) URL.")
    caption = body.get("caption")
    if caption is not None:
        if not isinstance(caption, str):
            raise invalid(f"Param {kind}['caption'] must be a string.")
        if len(caption) > CAPTION_MAX:
            raise invalid(f"Param {kind}['caption'] must be at most {CAPTION_MAX} characters long.")
    if "filename" in body and kind != "document":
        raise invalid(f"Param {kind}['filename'] is only allowed for documents.")


def _check_template(body: dict[str, Any]) -> None:
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise invalid("The parameter template['name'] is required.")
    language = body.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise invalid("The parameter template['language']['code'] is required.")


def _check_interactive(body: dict[str, Any]) -> None:
    try:
        check_interactive(body)
    except ValueError as exc:
        raise invalid(f"Param {exc}") from None


def _check_location(body: dict[str, Any]) -> None:
    for key, limit in (("latitude", 90), ("longitude", 180)):
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > limit:
            raise invalid(f"The parameter location['{key}'] is required: a number within "
                          f"±{limit}.")


def _check_reaction(body: dict[str, Any]) -> None:
    if not isinstance(body.get("message_id"), str) or not body["message_id"]:
        raise invalid("The parameter reaction['message_id'] is required.")
    emoji = body.get("emoji")
    try:
        check_emoji(emoji if isinstance(emoji, str) else "?")
    except ValueError:
        raise invalid("Param reaction['emoji'] must be a single emoji (or empty).") from None


PART_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "interactive": _check_interactive, "location": _check_location, "reaction": _check_reaction,
}


def _check_callback_data(data: Any) -> None:
    if data is None:
        return
    if not isinstance(data, str):
        raise invalid("Param biz_opaque_callback_data must be a string.")
    if len(data) > CALLBACK_DATA_MAX:
        raise invalid(
            f"Param biz_opaque_callback_data must be at most {CALLBACK_DATA_MAX} characters long."
        )
