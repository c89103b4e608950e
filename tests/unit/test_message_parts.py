"""Interactive, location and reaction parts as Meta takes them, and their listed content."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.message_parts import (
    check_emoji,
    check_interactive,
    interactive_content,
    location_content,
)

pytestmark = pytest.mark.unit

BUTTONS: dict[str, Any] = {
    "type": "button", "body": {"text": "Keep the appointment?"},
    "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                           {"type": "reply", "reply": {"id": "no", "title": "No"}}]},
}
LIST: dict[str, Any] = {
    "type": "list", "body": {"text": "Pick a slot"}, "footer": {"text": "Times are local"},
    "action": {"button": "Slots", "sections": [
        {"title": "Morning", "rows": [{"id": "m9", "title": "9:00", "description": "early"}]},
        {"title": "Afternoon", "rows": [{"id": "a2", "title": "14:00"}]}]},
}


def refused(interactive: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:
        check_interactive(interactive)
    return str(caught.value)


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``base`` with the value at ``path`` (dots; digits index lists) replaced."""
    copied = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = copied
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    return copied


class TestInteractive:
    """Reply buttons (≤3, titles ≤20, unique ids) or a list (≤10 rows, titles ≤24)."""

    def test_buttons_and_list_pass(self) -> None:
        check_interactive(BUTTONS)
        check_interactive(LIST)

    def test_unknown_type(self) -> None:
        assert "interactive.type" in refused(changed(BUTTONS, "type", "product"))

    def test_body_text_required(self) -> None:
        assert "interactive.body" in refused(changed(BUTTONS, "body", {}))

    def test_body_text_at_most_1024(self) -> None:
        assert "1024" in refused(changed(BUTTONS, "body.text", "x" * 1025))

    def test_four_buttons(self) -> None:
        four = [{"type": "reply", "reply": {"id": str(i), "title": "t"}} for i in range(4)]
        assert "1 to 3" in refused(changed(BUTTONS, "action.buttons", four))

    def test_button_title_at_most_20(self) -> None:
        message = refused(changed(BUTTONS, "action.buttons.0.reply.title", "x" * 21))
        assert "interactive.action.buttons[0].reply.title" in message and "20" in message

    def test_button_ids_unique(self) -> None:
        message = refused(changed(BUTTONS, "action.buttons.1.reply.id", "yes"))
        assert "buttons[1].reply.id" in message and "unique" in message

    def test_list_needs_its_button(self) -> None:
        assert "interactive.action.button" in refused(changed(LIST, "action.button", ""))

    def test_list_rows_at_most_ten_in_all(self) -> None:
        rows = [{"id": f"r{i}", "title": "t"} for i in range(6)]
        many = changed(changed(LIST, "action.sections.0.rows", rows),
                       "action.sections.1.rows", [{**r, "id": r["id"] + "b"} for r in rows])
        assert "12 rows" in refused(many)

    def test_row_title_at_most_24(self) -> None:
        assert "24" in refused(changed(LIST, "action.sections.0.rows.0.title", "x" * 25))

    def test_row_ids_unique_across_sections(self) -> None:
        assert "unique" in refused(changed(LIST, "action.sections.1.rows.0.id", "m9"))

    def test_content_is_the_body(self) -> None:
        assert interactive_content(LIST) == "Pick a slot"


class TestLocationContent:
    def test_name_and_address(self) -> None:
        assert location_content({"latitude": 1, "longitude": 2, "name": "Office",
                                 "address": "1 Main St"}) == "Office, 1 Main St"

    def test_coordinates(self) -> None:
        assert location_content({"latitude": 52.5, "longitude": 13.4}) == "52.5,13.4"


class TestEmoji:
    """One emoji (with modifiers and joiners), or empty to remove a reaction."""

    @pytest.mark.parametrize("emoji", ["", "👍", "❤️", "👍🏽", "👨‍👩‍👧", "🇩🇪"])
    def test_single_emoji(self, emoji: str) -> None:
        check_emoji(emoji)

    @pytest.mark.parametrize("emoji", ["a", "👍👍", "ok👍", " ", "🇩🇪🇫🇷"])
    def test_refused(self, emoji: str) -> None:
        with pytest.raises(ValueError, match="single emoji"):
            check_emoji(emoji)
