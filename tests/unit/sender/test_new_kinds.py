"""The sender's side of templates, interactive, location and reaction messages, and the 24-hour
customer service window re-checked at send time (fakes behind the sender's ports)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.cloudapi import CloudApiError
from shared.message_parts import OUTSIDE_WINDOW
from shared.models import MessageStatus, MessageType
from tests.unit.sender.test_send_path import START, World, world

TEMPLATE = {"name": "order_update", "language": "en_US", "components": [
    {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}]}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(START + seconds, UTC)


async def sent_payload(w: World, **fields: Any) -> dict[str, Any]:
    message = w.queued(**fields)
    await w.handle(message)
    assert w.messages[message.id].status == MessageStatus.SENT
    [payload] = w.cloud.sends
    return payload


class TestPayloads:
    """Each kind goes out as Meta's object under its wire type."""

    async def test_template_language_as_code_and_components_as_sent(self) -> None:
        payload = await sent_payload(world(), type=MessageType.TEMPLATE, content="Hi Ada",
                                     template=TEMPLATE)
        assert payload["type"] == "template"
        assert payload["template"] == {"name": "order_update", "language": {"code": "en_US"},
                                       "components": TEMPLATE["components"]}

    async def test_interactive_object_as_given(self) -> None:
        interactive = {"type": "button", "body": {"text": "Pick"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}
        payload = await sent_payload(world(), type=MessageType.INTERACTIVE, content="Pick",
                                     interactive=interactive)
        assert payload["type"] == "interactive" and payload["interactive"] == interactive

    async def test_location(self) -> None:
        location = {"latitude": 52.5, "longitude": 13.4, "name": "Office"}
        payload = await sent_payload(world(), type=MessageType.LOCATION, location=location)
        assert payload["location"] == location

    async def test_reaction_names_the_reacted_wamid(self) -> None:
        reaction = {"messageId": "m-1", "emoji": "👍", "whatsappMessageId": "wamid.X"}
        payload = await sent_payload(world(), type=MessageType.REACTION, reaction=reaction)
        assert payload["reaction"] == {"message_id": "wamid.X", "emoji": "👍"}


class TestCustomerWindow:
    """A non-template send of an enforcing account needs the contact's window open at send
    time; closed, the message fails with the contract's message and Meta is not called."""

    async def test_closed_window_fails_without_a_call(self) -> None:
        w = world()
        w.windows.expires["c1"] = at(-1)
        message = w.queued()
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.FAILED and stored.error_message == OUTSIDE_WINDOW
        assert w.cloud.sends == []

    async def test_contact_that_never_wrote_has_no_window(self) -> None:
        w = world()
        w.windows.expires["c1"] = None
        message = w.queued()
        await w.handle(message)
        assert w.messages[message.id].status == MessageStatus.FAILED and w.cloud.sends == []

    async def test_template_needs_no_window_and_no_read(self) -> None:
        w = world()
        w.windows.expires["c1"] = None
        await sent_payload(w, type=MessageType.TEMPLATE, template=TEMPLATE)
        assert w.windows.reads == 0

    async def test_account_not_enforcing_sends_without_a_read(self) -> None:
        w = world()
        w.accounts.accounts["acc"] = dataclasses.replace(w.accounts.accounts["acc"],
                                                         enforce_window=False)
        w.windows.expires["c1"] = None
        await sent_payload(w)
        assert w.windows.reads == 0

    async def test_scheduled_message_is_judged_at_its_time(self) -> None:
        """Open at accept, closed by the time it is due: deferred first, Failed when due."""
        w = world()
        w.windows.expires["c1"] = at(1800)
        message = w.queued(scheduled_for=at(3600))
        await w.handle(message)
        assert w.messages[message.id].status == MessageStatus.QUEUED and w.broker.deferred
        w.clock.now = START + 3600
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.FAILED and stored.error_message == OUTSIDE_WINDOW
        assert w.cloud.sends == []

    async def test_open_window_sends(self) -> None:
        w = world()
        w.windows.expires["c1"] = at(60)
        await sent_payload(w)
        assert w.windows.reads == 1


class TestTemplateAndWindowErrorsAreFinal:
    """Meta's window (131047) and template errors end the message Failed at once, code kept."""

    @pytest.mark.parametrize("code", [131047, 132000, 132001, 132012, 132015, 132016])
    async def test_no_retry(self, code: int) -> None:
        w = world()
        w.cloud.errors.append(CloudApiError("Refused", code=code, http_status=400))
        message = w.queued()
        await w.handle(message)
        stored = w.messages[message.id]
        assert stored.status == MessageStatus.FAILED and w.broker.deferred == []
        assert str(stored.error_message).startswith(f"({code})")
        assert stored.last_error == stored.error_message


def test_window_helper_reads_the_embedded_servers_string_form() -> None:
    from shared.message_parts import window_open

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert window_open("2026-01-01 10:00:00.000000", now)
    assert not window_open(now - timedelta(seconds=1), now)
    assert not window_open(None, now)
