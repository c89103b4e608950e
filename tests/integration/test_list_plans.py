"""The query shapes of ``GET /messages`` use an index on the embedded server's engine.

The server runs each ``find`` as ``collection.find(filter).sort(...).limit(n)`` on neosqlite
(nx_27017/handler.py), which this test calls in process, with Relay's indexes, tracing the SQL
it generates and asking SQLite for the plan: an index SEARCH in sort order, never a SCAN of the
collection or a per-row ``json_each``, whatever the number of messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import neosqlite
import pytest

from gateway.handlers.messages import ListMessagesQuery
from gateway.keyset import SORT_KEY, sargable
from shared.db import INDEXES

pytestmark = pytest.mark.integration

USER = "u1"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    conn = neosqlite.Connection(str(tmp_path / "plans.sqlite"))
    messages = conn["messages"]
    for keys, _ in INDEXES["messages"]:
        messages.create_index(keys)
    messages.insert_one({"_id": "m1", "userId": USER, "whatsappAccountId": "a1",
                         "status": "Failed", SORT_KEY: 5})
    yield conn, messages
    conn.close()


def plan(engine: tuple[Any, Any], run: Callable[[Any], object]) -> str:
    """SQLite's plan for the last SELECT on ``messages`` that ``run`` made."""
    conn, messages = engine
    statements: list[str] = []
    conn.db.set_trace_callback(statements.append)
    try:
        run(messages)
    finally:
        conn.db.set_trace_callback(None)
    [*_, sql] = [s for s in statements if s.lstrip().upper().startswith("SELECT")
                 and "FROM messages" in s]
    rows = conn.db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    return " | ".join(str(row[3]) for row in rows)


def page(where: dict[str, Any]) -> Callable[[Any], object]:
    return lambda c: list(c.find(where).sort([(SORT_KEY, -1)]).limit(51))


FILTERS = [
    ({}, "idx_messages_userId_createdMs"),
    ({"whatsapp_account_id": "a1"}, "idx_messages_userId_whatsappAccountId_createdMs"),
    ({"whatsapp_account_id": "a1", "status": "Failed"},
     "idx_messages_userId_whatsappAccountId_status_createdMs"),
    ({"contact_id": "c1"}, "idx_messages_userId_contactId_createdMs"),
    ({"status": "Failed"}, "idx_messages_userId_status_createdMs"),
    ({"direction": "Inbound"}, "idx_messages_userId_direction_createdMs"),
    ({"type": "Image"}, "idx_messages_userId_type_createdMs"),
    ({"campaign_id": "spring"}, "idx_messages_userId_campaignId_createdMs"),
    ({"start_date": "2026-12-01T00:00:00Z", "end_date": "2026-12-02T00:00:00Z"},
     "idx_messages_userId_createdMs"),
]


@pytest.mark.parametrize(("params", "index"), FILTERS)
def test_a_page_is_an_index_range_in_sort_order(engine: tuple[Any, Any], params: dict[str, Any],
                                                index: str) -> None:
    where = sargable(ListMessagesQuery(**params).mongo(USER))
    found = plan(engine, page(where))
    assert f"USING INDEX {index} " in found, found
    assert "SCAN" not in found and "TEMP B-TREE" not in found, found


@pytest.mark.parametrize(("params", "index"), FILTERS[:3])
def test_after_a_cursor_too(engine: tuple[Any, Any], params: dict[str, Any], index: str) -> None:
    where = sargable(ListMessagesQuery(**params).mongo(USER))
    found = plan(engine, page({**where, SORT_KEY: {"$lt": 5}}))
    assert f"USING INDEX {index} " in found and "SCAN" not in found, found
    ties = plan(engine, lambda c: list(
        c.find({**where, SORT_KEY: {"$eq": 5}}).sort([("_id", -1)]).limit(51)))
    # Equal on the whole index: only the group with that createdMs is sorted by _id.
    assert f"USING INDEX {index} " in ties and "SCAN" not in ties, ties


def test_a_bare_equality_on_a_field_would_scan(engine: tuple[Any, Any]) -> None:
    """Why equalities are written ``$eq``: ``{f: v}`` adds an array-containment ``json_each``
    per row unless an index *name* ends in ``_f`` (the engine's rule), and no index can serve it."""
    found = plan(engine, page({"userId": {"$eq": USER}, "contactId": "c1"}))
    assert "json_each" in found or "SCAN" in found, found


def test_a_range_on_id_would_load_the_whole_collection(engine: tuple[Any, Any]) -> None:
    """Why a group is read without an ``_id`` bound: with one, the engine drops the WHERE."""
    found = plan(engine, lambda c: list(c.find(
        {"userId": {"$eq": USER}, SORT_KEY: {"$eq": 5}, "_id": {"$lt": "m9"}})
        .sort([("_id", -1)]).limit(51)))
    assert found.startswith("SCAN messages"), found


def text_plan(engine: tuple[Any, Any], where: dict[str, Any]) -> str:
    """SQLite's plan for a first page of the search ``where`` (its SQL starts ``WITH fts``)."""
    conn, messages = engine
    statements: list[str] = []
    conn.db.set_trace_callback(statements.append)
    try:
        page(where)(messages)
    finally:
        conn.db.set_trace_callback(None)
    [*_, sql] = [s for s in statements if " MATCH " in s and "FROM messages" in s]
    return " | ".join(str(row[3]) for row in conn.db.execute("EXPLAIN QUERY PLAN " + sql))


@pytest.mark.parametrize("params", [{"q": "parcel"}, {"q": "parcel 4471", "status": "Failed",
                                                      "whatsapp_account_id": "a1"}])
def test_a_search_reads_the_text_index_first(engine: tuple[Any, Any],
                                             params: dict[str, Any]) -> None:
    """``q`` is a ``$text``: the engine matches the words in its FTS5 table, joins those rows
    by primary key and sorts only them; the collection is never scanned."""
    found = text_plan(engine, sargable(ListMessagesQuery(**params).mongo(USER)))
    assert found.startswith("SCAN messages_searchText_fts VIRTUAL TABLE"), found
    assert "SEARCH c USING INTEGER PRIMARY KEY" in found and "SCAN c" not in found, found


def test_a_search_with_eq_equalities_would_walk_the_users_index(
        engine: tuple[Any, Any]) -> None:
    """Why a search keeps its equalities bare (``sargable``): with ``userId $eq`` SQLite walks
    the user's index in sort order and probes the text table for each message."""
    found = text_plan(engine, {"userId": {"$eq": USER}, "$text": {"$search": '"parcel"'}})
    assert found.startswith("SEARCH c USING INDEX idx_messages_userId_createdMs"), found
