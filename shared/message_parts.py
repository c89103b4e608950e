"""The parts of the outbound kinds beside text and media, checked as Meta's Cloud API takes them,
and the ``content`` each is listed with: pure functions, no I/O.

``interactive`` is Meta's object (reply ``button`` or ``list``); ``location`` has coordinates;
a reaction carries one emoji (an empty one removes the reaction).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.models import as_utc

BODY_MAX = 1024
FOOTER_MAX = 60
BUTTONS_MAX, BUTTON_TITLE_MAX = 3, 20
ROWS_MAX, ROW_TITLE_MAX, ROW_DESCRIPTION_MAX = 10, 24, 72
SECTIONS_MAX, SECTION_TITLE_MAX, LIST_BUTTON_MAX = 10, 24, 20
ID_MAX = 256
EMOJI_MAX_CODEPOINTS = 10
# Joiners and modifiers that may sit inside one emoji: ZWJ, variation selectors, keycap.
EMOJI_GLUE = frozenset({"\u200d", "\ufe0e", "\ufe0f", "\u20e3"})
# The refusal (gateway, 400 OUTSIDE_CUSTOMER_WINDOW) and the failure (sender) of a non-template
# send to a contact whose 24-hour window is closed.
OUTSIDE_WINDOW = ("The 24-hour customer service window is closed for this contact; "
                  "send a template message")


def enforces_window(account: Mapping[str, Any]) -> bool:
    """The account's ``enforceCustomerWindow``: absent (or null) means true; a boolean ``$set``
    may read back as 0/1 on the embedded server (docs/DEVIATIONS.md)."""
    value = account.get("enforceCustomerWindow")
    return value is None or bool(value)


def window_open(expires_at: object, now: datetime) -> bool:
    """Whether a contact's ``windowExpiresAt`` (a datetime, or the string the embedded server
    reads back: ``shared.models.as_utc``) is still in the future at ``now``."""
    expires = as_utc(expires_at)
    return isinstance(expires, datetime) and expires > now


def _text(obj: Mapping[str, Any], key: str, where: str, limit: int, *,
          required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}.{key} is required (a non-empty string)")
    if len(value) > limit:
        raise ValueError(f"{where}.{key} must be at most {limit} characters")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    return value


def check_interactive(interactive: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the place unless ``interactive`` is a reply-``button`` or
    ``list`` message Meta accepts: ``body.text`` ≤ 1024; at most 3 reply buttons with unique ids
    and titles ≤ 20; or a list with ``action.button`` and sections of ≤ 10 rows in all (titles
    ≤ 24, unique ids)."""
    kind = interactive.get("type")
    if kind not in ("button", "list"):
        raise ValueError("interactive.type must be button or list")
    _text(_object(interactive.get("body"), "interactive.body"), "text", "interactive.body",
          BODY_MAX)
    if "footer" in interactive:
        _text(_object(interactive["footer"], "interactive.footer"), "text",
              "interactive.footer", FOOTER_MAX)
    if "header" in interactive and not isinstance(
            _object(interactive["header"], "interactive.header").get("type"), str):
        raise ValueError("interactive.header.type is required")
    action = _object(interactive.get("action"), "interactive.action")
    if kind == "button":
        _check_buttons(action)
    else:
        _check_list(action)


def _check_buttons(action: Mapping[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= BUTTONS_MAX:
        raise ValueError(f"interactive.action.buttons must hold 1 to {BUTTONS_MAX} buttons")
    ids: set[str] = set()
    for index, button in enumerate(buttons):
        where = f"interactive.action.buttons[{index}]"
        if _object(button, where).get("type") != "reply":
            raise ValueError(f"{where}.type must be reply")
        reply = _object(button.get("reply"), f"{where}.reply")
        _unique(_text(reply, "id", f"{where}.reply", ID_MAX), ids, f"{where}.reply.id")
        _text(reply, "title", f"{where}.reply", BUTTON_TITLE_MAX)


def _check_list(action: Mapping[str, Any]) -> None:
    _text(action, "button", "interactive.action", LIST_BUTTON_MAX)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= SECTIONS_MAX:
        raise ValueError(f"interactive.action.sections must hold 1 to {SECTIONS_MAX} sections")
    ids: set[str] = set()
    rows_in_all = 0
    for s_index, section in enumerate(sections):
        where = f"interactive.action.sections[{s_index}]"
        _text(_object(section, where), "title", where, SECTION_TITLE_MAX,
              required=len(sections) > 1)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise ValueError(f"{where}.rows must be a non-empty list")
        rows_in_all += len(rows)
        for r_index, row in enumerate(rows):
            at = f"{where}.rows[{r_index}]"
            _unique(_text(_object(row, at), "id", at, ID_MAX), ids, f"{at}.id")
            _text(row, "title", at, ROW_TITLE_MAX)
            _text(row, "description", at, ROW_DESCRIPTION_MAX, required=False)
    if rows_in_all > ROWS_MAX:
        raise ValueError(f"interactive.action.sections hold {rows_in_all} rows; "
                         f"at most {ROWS_MAX} in all")


def _unique(value: str | None, seen: set[str], where: str) -> None:
    if value in seen:
        raise ValueError(f"{where} {value!r} is used twice; ids must be unique")
    if value is not None:
        seen.add(value)


def interactive_content(interactive: Mapping[str, Any]) -> str | None:
    """The body text, which lists show for an interactive message."""
    body = interactive.get("body")
    text = body.get("text") if isinstance(body, dict) else None
    return text if isinstance(text, str) else None


def location_content(location: Mapping[str, Any]) -> str:
    """``name, address`` (those given), else ``latitude,longitude``."""
    named = [str(location[k]) for k in ("name", "address") if location.get(k)]
    if named:
        return ", ".join(named)
    return f"{location.get('latitude')},{location.get('longitude')}"


def check_emoji(value: str) -> None:
    """Raise ``ValueError`` unless ``value`` is one emoji (or empty: remove the reaction)."""
    if value == "":
        return
    if len(value) > EMOJI_MAX_CODEPOINTS:
        raise ValueError("emoji must be a single emoji")
    pictographs = 0
    for char in value:
        if char in EMOJI_GLUE or 0x1F3FB <= ord(char) <= 0x1F3FF or 0xE0020 <= ord(char) <= 0xE007F:
            continue  # joiner, selector, skin tone, tag
        if unicodedata.category(char) != "So" and not 0x1F1E6 <= ord(char) <= 0x1F1FF:
            raise ValueError("emoji must be a single emoji")
        pictographs += 1
    joins = value.count("\u200d")
    flags = sum(1 for c in value if 0x1F1E6 <= ord(c) <= 0x1F1FF)
    if pictographs == 0 or (pictographs > joins + 1 and not (flags == 2 and pictographs == 2)):
        raise ValueError("emoji must be a single emoji")
