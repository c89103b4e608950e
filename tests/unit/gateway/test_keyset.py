"""Keyset cursors: opaque round trips, refusals naming ``cursor``, query shapes."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.errors import ApiError
from gateway.keyset import SORT_KEY, After, _with_key, decode_cursor, sargable, scope_of

pytestmark = pytest.mark.unit


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    after = After(1_796_117_400_123, "5b0e-ä-id", 3, 7)
    cursor = after.encode()
    assert decode_cursor(cursor) == after
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("raw", [
    b"\xff\xfe", b"[1, 2, 3]", b'[1, "x", 1, 1]', b'[true, "x", 1, 2]', b'[1, "x", 1, 2.0]',
    b'[1, "x", -1, 2]', b'[9007199254740993, "x", 1, 2]', b"null", b'"text"',
])
def test_anything_else_is_a_400_naming_cursor(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        decode_cursor(base64.urlsafe_b64encode(raw).decode())
    assert caught.value.status == 400
    assert [d["field"] for d in caught.value.details] == ["cursor"]


@pytest.mark.parametrize("cursor", ["%%%", "ä", "a"])
def test_text_that_is_not_base64_is_a_400(cursor: str) -> None:
    with pytest.raises(ApiError):
        decode_cursor(cursor)


def test_equalities_become_eq_and_operators_stay() -> None:
    where = {"userId": "u", "status": "Failed", SORT_KEY: {"$gte": 5}}
    assert sargable(where) == {"userId": {"$eq": "u"}, "status": {"$eq": "Failed"},
                               SORT_KEY: {"$gte": 5}}


def test_the_key_condition_is_anded_with_a_date_range() -> None:
    where = {"userId": {"$eq": "u"}, SORT_KEY: {"$gte": 5, "$lte": 90}}
    assert _with_key(where, {"$lt": 40})[SORT_KEY] == {"$gte": 5, "$lte": 90, "$lt": 40}
    assert _with_key(where, {"$eq": 7})[SORT_KEY] == {"$gte": 5, "$lte": 90, "$eq": 7}
    assert where[SORT_KEY] == {"$gte": 5, "$lte": 90}  # not changed in place
    assert _with_key({"userId": {"$eq": "u"}}, {"$lt": 40}) == {
        "userId": {"$eq": "u"}, SORT_KEY: {"$lt": 40}}
    assert json.dumps(_with_key(where, {"$lt": 40}))  # plain data, ready for the driver


def test_a_cursor_is_bound_to_its_lists_filter() -> None:
    mine = scope_of(sargable({"userId": "u1", "status": "Failed"}))
    cursor = After(5, "id", 0, 2, mine).encode()
    assert decode_cursor(cursor, mine).scope == mine
    for other in ({"userId": "u2", "status": "Failed"}, {"userId": "u1"},
                  {"userId": "u1", "status": "Read"}):
        with pytest.raises(ApiError) as caught:
            decode_cursor(cursor, scope_of(sargable(other)))
        assert [d["field"] for d in caught.value.details] == ["cursor"]


def test_a_search_keeps_its_equalities_bare() -> None:
    where = {"userId": "u", "$text": {"$search": '"a"'}, SORT_KEY: {"$gte": 5}}
    assert sargable(where) == where
