"""Parsing of recorded-shape webhook payloads into typed items (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ingest.parse import (
    InboundMessage,
    Malformed,
    PayloadError,
    StatusUpdate,
    WebhookError,
    parse_payload,
    timestamp_of,
)
from shared.models import MessageType
from tests import ingest_payloads as p

PNID = "106540352242922"
EXPECTED: dict[str, tuple[MessageType, str | None]] = {
    "text": (MessageType.TEXT, "Where is my order?"),
    "image": (MessageType.IMAGE, "broken part"),
    "video": (MessageType.VIDEO, "unboxing"),
    "audio": (MessageType.AUDIO, None),
    "document": (MessageType.DOCUMENT, "my invoice"),
    "sticker": (MessageType.UNSUPPORTED, "Sticker"),
    "location": (MessageType.LOCATION, "Office, Alexanderplatz 1, Berlin"),
    "contacts": (MessageType.UNSUPPORTED, "Shared contact: Grace Hopper (+1 555 0100)"),
    "interactive": (MessageType.INTERACTIVE, "Yes"),
    "button": (MessageType.INTERACTIVE, "Confirm"),
    "reaction": (MessageType.REACTION, "👍"),
    "order": (MessageType.UNSUPPORTED, "Order: 1 item(s) from catalog cat-1 - asap"),
    "system": (MessageType.UNSUPPORTED, "System: User changed number"),
    "unknown": (MessageType.UNSUPPORTED, "Unsupported message (unknown): Message type unknown"),
}
# The kind-specific part each sample is stored with.
PARTS: dict[str, dict] = {
    "location": {"location": {"latitude": 52.52, "longitude": 13.405, "name": "Office",
                              "address": "Alexanderplatz 1, Berlin"}},
    "interactive": {"interactive": {"type": "button_reply", "id": "yes", "title": "Yes"}},
    "button": {"interactive": {"type": "button", "text": "Confirm", "payload": "CONFIRM"}},
    "reaction": {"reaction": {"messageId": None, "emoji": "👍",
                              "whatsappMessageId": "wamid.HBgLREACTEDTO"}},
}


def only(payload: dict) -> object:
    items = parse_payload(payload)
    assert len(items) == 1
    return items[0]


class TestMessageTypes:
    """Every WhatsApp message type is kept, mapped to a seed type with readable content."""

    @pytest.mark.parametrize("kind", sorted(p.SAMPLES))
    def test_maps_every_type(self, kind: str) -> None:
        raw = p.sample(kind, sender="16505551234")
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage)
        assert (item.message_type, item.content) == EXPECTED[kind]
        assert item.whatsapp_type == kind
        assert item.wamid == raw["id"]
        assert item.phone == "+16505551234"
        assert item.timestamp == datetime.fromtimestamp(p.TS, UTC)
        assert item.raw == raw
        unsupported = item.message_type == MessageType.UNSUPPORTED
        assert item.parts == ({"raw": raw} if unsupported else PARTS.get(kind, {}))
        assert item.opens_window is (kind != "system")

    @pytest.mark.parametrize("kind", p.MEDIA_KINDS)
    def test_media_types_carry_the_media_id(self, kind: str) -> None:
        item = only(p.webhook(p.value(PNID, messages=[p.sample(kind)])))
        assert isinstance(item, InboundMessage)
        assert item.media_id == p.SAMPLES[kind][0]["id"]  # type: ignore[index]

    def test_a_document_without_caption_uses_its_file_name(self) -> None:
        raw = p.message("document", {"id": "9", "filename": "a.pdf"})
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage) and item.content == "a.pdf"

    def test_a_type_nobody_knows_yet_is_kept_as_unsupported(self) -> None:
        raw = p.message("hologram", {"shape": "cube"})
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage)
        assert (item.message_type, item.whatsapp_type) == (MessageType.UNSUPPORTED, "hologram")
        assert item.content == "Unsupported message (hologram)"
        assert item.parts == {"raw": raw}

    def test_a_removed_reaction_has_an_empty_emoji_and_no_content(self) -> None:
        raw = p.reaction("wamid.X", "")
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage) and item.content is None
        assert item.message_type == MessageType.REACTION
        assert item.parts == {"reaction": {"messageId": None, "emoji": "",
                                           "whatsappMessageId": "wamid.X"}}

    def test_a_list_reply_keeps_its_description(self) -> None:
        item = only(p.webhook(p.value(PNID, messages=[p.list_reply()])))
        assert isinstance(item, InboundMessage)
        assert (item.message_type, item.content) == (MessageType.INTERACTIVE, "Tomorrow")
        assert item.parts == {"interactive": {"type": "list_reply", "id": "row-2",
                                              "title": "Tomorrow", "description": "9-12"}}

    def test_a_flow_reply_is_interactive(self) -> None:
        raw = p.message("interactive", {"type": "nfm_reply", "nfm_reply": {
            "name": "flow", "body": "Sent", "response_json": "{\"a\": 1}"}})
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage)
        assert (item.message_type, item.content) == (MessageType.INTERACTIVE, "Sent")
        assert item.parts["interactive"]["responseJson"] == '{"a": 1}'

    def test_a_location_without_a_name_shows_its_coordinates(self) -> None:
        raw = p.location(-33.8688, 151.2093, name=None, address=None)
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage) and item.content == "-33.8688,151.2093"
        assert item.parts["location"] == {"latitude": -33.8688, "longitude": 151.2093,
                                          "name": None, "address": None}

    @pytest.mark.parametrize("raw", [
        p.location(91.0, 0.0), p.message("location", {"latitude": "north", "longitude": 1}),
        p.message("interactive", {"type": "carousel_reply", "carousel_reply": {"id": "x"}}),
        p.message("button", {}), p.message("reaction", {"emoji": "👍"}),
    ], ids=["latitude-out-of-range", "latitude-not-a-number", "unknown-interactive",
            "empty-button", "reaction-without-target"])
    def test_a_modelled_kind_that_does_not_fit_is_kept_as_unsupported(self, raw: dict) -> None:
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage)
        assert item.message_type == MessageType.UNSUPPORTED
        assert item.parts == {"raw": raw}
        assert item.content == f"Unsupported message ({raw['type']})"

    def test_profile_name_comes_from_contacts(self) -> None:
        payload = p.webhook(p.value(PNID, contacts=[p.contact("16505551234", "Ada")],
                                    messages=[p.text(sender="16505551234")]))
        item = only(payload)
        assert isinstance(item, InboundMessage) and item.profile_name == "Ada"


class TestStatuses:
    """Statuses keep their webhook timestamp; failed ones carry "(code) title: details"."""

    @pytest.mark.parametrize("name", ["sent", "delivered", "read"])
    def test_reads_each_status(self, name: str) -> None:
        item = only(p.webhook(p.value(PNID, statuses=[p.status("wamid.A", name, ts=p.TS + 5)])))
        assert item == StatusUpdate(PNID, "wamid.A", name, datetime.fromtimestamp(p.TS + 5, UTC),
                                    "16505551234", None)

    def test_failed_carries_the_error(self) -> None:
        raw = p.status("wamid.B", "failed", errors=[p.RE_ENGAGEMENT])
        item = only(p.webhook(p.value(PNID, statuses=[raw])))
        assert isinstance(item, StatusUpdate)
        assert item.error_message == "(131047) Re-engagement message: Customer window closed."

    def test_failed_without_errors_still_explains(self) -> None:
        item = only(p.webhook(p.value(PNID, statuses=[p.status("wamid.B", "failed")])))
        assert isinstance(item, StatusUpdate) and item.error_message

    def test_an_unknown_status_is_malformed_not_fatal(self) -> None:
        item = only(p.webhook(p.value(PNID, statuses=[p.status("wamid.C", "exploded")])))
        assert isinstance(item, Malformed) and item.kind == "status"


class TestBatches:
    """All entries, changes, messages, statuses and errors of one POST, in order."""

    def test_walks_every_entry_and_change(self) -> None:
        payload = p.webhook(
            p.value("pn-1", messages=[p.text("a"), p.text("b")]),
            p.value("pn-2", statuses=[p.status("wamid.1", "read")], messages=[p.text("c")]),
            p.value("pn-3", errors=[{"code": 131000, "title": "Something went wrong"}]),
            entries=2,
        )
        items = parse_payload(payload)
        kinds = sorted((type(i).__name__, getattr(i, "phone_number_id", None)) for i in items)
        assert kinds == [
            ("InboundMessage", "pn-1"), ("InboundMessage", "pn-1"), ("InboundMessage", "pn-2"),
            ("StatusUpdate", "pn-2"), ("WebhookError", "pn-3"),
        ]

    def test_value_errors_are_read(self) -> None:
        err = {"code": 131000, "title": "Something went wrong",
               "error_data": {"details": "Try again"}}
        item = only(p.webhook(p.value(PNID, errors=[err])))
        assert item == WebhookError(PNID, 131000, "(131000) Something went wrong: Try again")

    def test_a_bad_item_does_not_spoil_the_batch(self) -> None:
        good = p.text("fine")
        payload = p.webhook(p.value(PNID, messages=[{"type": "text"}, good, "junk"]))
        items = parse_payload(payload)
        assert [type(i) for i in items] == [Malformed, InboundMessage]

    def test_unknown_fields_are_ignored(self) -> None:
        payload = p.webhook(p.value(PNID, messages=[p.text(extra_field={"x": 1})]))
        payload["entry"][0]["surprise"] = True
        assert isinstance(only(payload), InboundMessage)

    def test_changes_without_value_yield_nothing(self) -> None:
        payload = {"object": "whatsapp_business_account",
                   "entry": [{"id": "1", "changes": [{"field": "account_update"}]}]}
        assert parse_payload(payload) == []

    @pytest.mark.parametrize("payload", [
        [], "x", {}, {"entry": "nope"}, {"entry": [{"changes": "nope"}]}, {"entry": [3]},
    ])
    def test_a_payload_of_the_wrong_shape_is_poison(self, payload: object) -> None:
        with pytest.raises(PayloadError):
            parse_payload(payload)


class TestTimestamps:
    """Webhook timestamps are strings of Unix seconds; nonsense is refused, not guessed."""

    def test_reads_strings_and_numbers(self) -> None:
        assert timestamp_of("1749416383") == timestamp_of(1749416383)
        assert timestamp_of("1749416383") == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)

    @pytest.mark.parametrize("bad", [None, "", "soon", "-5", "0", "99999999999999"])
    def test_refuses_nonsense(self, bad: object) -> None:
        assert timestamp_of(bad) is None


KINDS = [*sorted(p.SAMPLES), "hologram"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_anything = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=10)
# A kind's body with its real field names, each holding anything at all.
_FIELDS = ["type", "button_reply", "list_reply", "nfm_reply", "id", "title", "description",
           "text", "payload", "latitude", "longitude", "name", "address", "message_id", "emoji",
           "body", "product_items", "catalog_id", "caption", "filename", "formatted_name",
           "phones", "phone"]
_bodies = st.one_of(_anything, st.dictionaries(st.sampled_from(_FIELDS), _anything, max_size=6))


class TestEveryKindWithAnyBody:
    """Whatever a kind's body holds, the message is parsed (typed, or Unsupported), never lost."""

    @hsettings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(KINDS), _bodies, _anything)
    def test_never_raises(self, kind: str, body: object, contacts: object) -> None:
        raw = {"from": "16505551234", "id": "wamid.F", "timestamp": str(p.TS), "type": kind,
               kind: body, "contacts": contacts}
        item = only(p.webhook(p.value(PNID, messages=[raw])))
        assert isinstance(item, InboundMessage)
        assert item.message_type in MessageType
        if item.message_type == MessageType.UNSUPPORTED:
            assert item.parts == {"raw": raw}
