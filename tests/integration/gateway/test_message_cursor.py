"""GET /messages by keyset cursor: every page walked, ties on createdMs, filters, bad cursors."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.handlers import messages as handler
from shared.db import Database, created_ms
from tests.integration.gateway import factories
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def stored(db: Database, api: Client, ms_offsets: list[int],
                 **fields: Any) -> list[dict[str, Any]]:
    """Messages created ``BASE + offset`` ms (offsets may repeat: equal ``createdMs``)."""
    docs = []
    for offset in ms_offsets:
        at = BASE + timedelta(milliseconds=offset)
        docs.append(await factories.message(db, user_id=api.tenant.user_id,
                                            account_id=api.tenant.account_id, createdAt=at,
                                            **fields))
    return docs


def newest_first(docs: list[dict[str, Any]]) -> list[str]:
    return [d["_id"] for d in sorted(docs, key=lambda d: (d["createdMs"], d["_id"]),
                                     reverse=True)]


async def walk(api: Client, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of ``params`` by cursor: the ids in order and the pages' data."""
    seen: list[str] = []
    pages = []
    status, body = await api.call("GET", "/messages", params=params)
    while True:
        assert status == 200, body
        pages.append(body["data"])
        seen += [m["id"] for m in body["data"]["messages"]]
        cursor = body["data"]["nextCursor"]
        if cursor is None:
            return seen, pages
        assert len(pages) < 100
        status, body = await api.call("GET", "/messages", params={**params, "cursor": cursor})


class TestWalk:
    async def test_every_message_once_in_order_with_equal_created_ms(
        self, api: Client, db: Database
    ) -> None:
        # Groups of equal createdMs, one larger than a page, some straddling page edges.
        docs = await stored(db, api, [0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 3, 5, 5, 8, 8, 8, 9])
        seen, pages = await walk(api, limit=3)
        assert seen == newest_first(docs)
        assert [p["page"] for p in pages] == list(range(1, 7))
        assert all(p["total"] == 18 and p["totalPages"] == 6 for p in pages)
        assert [len(p["messages"]) for p in pages] == [3] * 6

    async def test_the_last_page_has_no_cursor(self, api: Client, db: Database) -> None:
        await stored(db, api, [1, 2, 3])
        _, body = await api.call("GET", "/messages?limit=3")
        assert body["data"]["nextCursor"] is None
        _, body = await api.call("GET", "/messages?limit=2")
        assert body["data"]["nextCursor"] is not None

    async def test_a_skip_page_and_the_cursor_agree(self, api: Client, db: Database) -> None:
        await stored(db, api, [4, 4, 4, 4, 3, 3, 1, 1, 1])
        _, first = await api.call("GET", "/messages?limit=4")
        _, by_cursor = await api.call("GET", "/messages", params={
            "limit": 4, "cursor": first["data"]["nextCursor"]})
        _, by_page = await api.call("GET", "/messages?limit=4&page=2")
        assert by_cursor["data"]["messages"] == by_page["data"]["messages"]
        assert by_cursor["data"]["nextCursor"] == by_page["data"]["nextCursor"]
        assert by_cursor["data"]["page"] == by_page["data"]["page"] == 2

    async def test_a_message_sent_meanwhile_does_not_shift_the_pages(
        self, api: Client, db: Database
    ) -> None:
        docs = await stored(db, api, [1, 2, 3, 4, 5, 6])
        _, first = await api.call("GET", "/messages?limit=3")
        status, _ = await api.send()  # newer than all: page 2 by cursor is unaffected
        assert status == 202
        _, second = await api.call("GET", "/messages", params={
            "limit": 3, "cursor": first["data"]["nextCursor"]})
        assert [m["id"] for m in second["data"]["messages"]] == newest_first(docs)[3:]


class TestFilters:
    async def test_filters_hold_on_every_page(self, api: Client, db: Database) -> None:
        failed = await stored(db, api, [1, 1, 3, 3, 3, 7, 9], status="Failed")
        await stored(db, api, [1, 2, 3, 8], status="Sent")
        await factories.message(db, user_id=api.tenant.user_id, account_id="other",
                                status="Failed", createdAt=BASE)
        seen, _ = await walk(api, whatsappAccountId=api.tenant.account_id, status="Failed",
                             limit=2)
        assert seen == newest_first(failed)

    async def test_a_date_range_with_a_cursor(self, api: Client, db: Database) -> None:
        docs = await stored(db, api, [0, 1000, 1000, 2000, 2000, 2000, 3000, 4000])
        seen, pages = await walk(api, startDate=(BASE + timedelta(seconds=1)).isoformat(),
                                 endDate=(BASE + timedelta(seconds=3)).isoformat(), limit=2)
        inside = [d for d in docs if 1000 <= d["createdMs"] - created_ms(BASE) <= 3000]
        assert seen == newest_first(inside) and pages[0]["total"] == 6

    async def test_date_bounds_are_inclusive_to_the_millisecond(
        self, api: Client, db: Database
    ) -> None:
        docs = await stored(db, api, [10, 11, 12])
        start = BASE + timedelta(milliseconds=10, microseconds=500)  # after 10 ms, before 11
        _, body = await api.call("GET", "/messages", params={
            "startDate": start.isoformat(),
            "endDate": (BASE + timedelta(milliseconds=12)).isoformat()})
        assert [m["id"] for m in body["data"]["messages"]] == newest_first(docs[1:])

    async def test_a_total_the_projection_cannot_give_stops_at_the_cap(
        self, api: Client, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(handler, "COUNTED_UP_TO", 5)
        await stored(db, api, list(range(8)), contactId="c9")
        _, body = await api.call("GET", "/messages?contactId=c9&limit=3")
        assert (body["data"]["total"], len(body["data"]["messages"])) == (5, 3)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestBadCursor:
    @pytest.mark.parametrize("cursor", [
        "not a cursor!", b64(b"plain text"), b64(b"[1, 2]"), b64(json.dumps([1, "x"]).encode()),
        b64(json.dumps(["1", "x", 2]).encode()), b64(json.dumps([1, "x", 1]).encode()),
        b64(json.dumps([-5, "x", 2]).encode()), b64(json.dumps([1.5, "x", 2]).encode()),
        b64(json.dumps([1, "", 2]).encode()), b64(json.dumps({"a": 1}).encode()),
        b64(json.dumps([1, "x", -1, 2]).encode()), b64(json.dumps([1, "x", 0, 1]).encode()),
        "x" * 201,
    ])
    async def test_is_400_naming_cursor(self, api: Client, cursor: str) -> None:
        status, body = await api.call("GET", "/messages", params={"cursor": cursor})
        assert status == 400, body
        assert body["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in body["details"]] == ["cursor"]

    async def test_cursor_with_page_is_400(self, api: Client, db: Database) -> None:
        await stored(db, api, [1, 2, 3])
        _, body = await api.call("GET", "/messages?limit=2")
        status, body = await api.call("GET", "/messages", params={
            "cursor": body["data"]["nextCursor"], "page": 2})
        assert status == 400 and body["code"] == "VALIDATION_ERROR", body
