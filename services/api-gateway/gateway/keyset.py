"""Keyset pages: newest first by a numeric key (``createdMs``), ties broken by ``_id``.

The ``cursor`` of a list answer (``nextCursor``) is opaque to clients: base64url of the last
item's key, the next page's number and a hash of the list's filter (which holds the user), so a
cursor sent with other filters or by another user is a 400, never a page of another list. A
page after a cursor is an index range, not a skip, so it costs the same at any depth.

Query shapes are chosen for the embedded server as well as MongoDB (docs/DEVIATIONS.md):

- equalities are written ``{"$eq": v}``: nx-27017 compiles a bare ``{f: v}`` into
  ``(f = ? OR EXISTS(json_each …))`` (array containment) unless some index *name* ends in
  ``_f``, which defeats every index; ``$eq`` compiles to a plain, indexable ``f = ?``;
- no ``$or`` and no range on ``_id`` (both load the whole collection there): the order is
  ``(createdMs desc, _id desc)``, but the page query sorts on ``createdMs`` alone (an index order
  on both servers) and a group of equal ``createdMs`` cut by a page edge is read on its own,
  sorted by ``_id`` (equal on the whole index prefix, so only that group is sorted); the cursor
  carries how many of its group were listed;
- counts are ``aggregate([$match, $limit, $count])``: ``count_documents`` loads the whole
  collection on the embedded server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator
from pymongo.asynchronous.collection import AsyncCollection

from gateway.errors import validation_error
from gateway.present import PageQuery

Doc = dict[str, Any]
Key = tuple[int, str]
SORT_KEY = "createdMs"
MAX_CURSOR = 200


class CursorQuery(PageQuery):
    """``page`` and ``limit``, or ``cursor`` (a previous answer's ``nextCursor``) and ``limit``."""

    cursor: str | None = Field(
        None, min_length=1, max_length=MAX_CURSOR,
        description="A previous answer's `nextCursor`: the page after it (do not send `page`).")

    @model_validator(mode="after")
    def _cursor_alone(self) -> CursorQuery:
        if self.cursor is not None and "page" in self.model_fields_set:
            raise ValueError("cursor continues a list after its previous page; do not send page "
                             "with it")
        return self


@dataclass(frozen=True)
class After:
    """Where a page ends: its last item's key, how many items with that ``createdMs`` were
    listed so far (``seen``; 0 when the page ended with the last of them), and the next page's
    number."""

    ms: int
    last_id: str
    seen: int
    page: int
    scope: str = ""  # scope_of(the list's filter)

    def encode(self) -> str:
        raw = json.dumps([self.ms, self.last_id, self.seen, self.page, self.scope],
                         separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def scope_of(where: Doc) -> str:
    """A short hash of a list's filter (with its user): what a cursor is bound to."""
    canonical = json.dumps(where, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def decode_cursor(cursor: str, scope: str = "") -> After:
    """A cursor this API returned for a list of filter hash ``scope``; anything else is a 400
    naming ``cursor``."""
    bad = validation_error("cursor is not a cursor this API returned", "cursor")
    try:
        ms, last_id, seen, page, bound = json.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if not (_is_int(ms, 0, 2**53) and isinstance(last_id, str) and 0 < len(last_id) <= 100
            and _is_int(seen, 0, 10**9) and _is_int(page, 2, 10**9)
            and isinstance(bound, str)):
        raise bad
    if bound != scope:
        raise validation_error("cursor was returned for other filters or another user: send "
                               "it with the filters of the page it came from", "cursor")
    return After(ms, last_id, seen, page, bound)


def sargable(where: Doc) -> Doc:
    """``where`` with every plain equality written ``{"$eq": value}`` (see the module doc).

    Except in a search (``$text``): there the embedded server must start from the words' FTS5
    matches and check the rest on those rows only; an indexable ``userId = ?`` would make SQLite
    walk the user's whole index instead, probing the text table for each of its messages
    (``tests/integration/test_list_plans.py``). The bare equalities mean the same on MongoDB."""
    if "$text" in where:
        return dict(where)
    return {k: v if isinstance(v, dict) else {"$eq": v} for k, v in where.items()}


def key_of(doc: Doc) -> Key:
    return int(doc.get(SORT_KEY) or 0), str(doc["_id"])


def _with_key(where: Doc, condition: Doc) -> Doc:
    """``where`` AND ``createdMs`` ``condition`` (merged with a range ``where`` may hold)."""
    existing = where.get(SORT_KEY)
    merged = {**existing, **condition} if isinstance(existing, dict) else dict(condition)
    if isinstance(existing, dict) and "$lt" in existing and "$lt" in condition:
        merged["$lt"] = min(existing["$lt"], condition["$lt"])
    return {**where, SORT_KEY: merged}


def _newest_first(docs: list[Doc]) -> list[Doc]:
    return sorted(docs, key=key_of, reverse=True)


async def _group(collection: AsyncCollection[Doc], where: Doc, ms: int, n: int) -> list[Doc]:
    """The first ``n`` documents with ``createdMs == ms``, by ``_id`` descending: equal on the
    whole index prefix, so only this group is sorted. Never a bound on ``_id``: the embedded
    server answers a range on a string ``_id`` by loading the whole collection."""
    return await collection.find(_with_key(where, {"$eq": ms}), sort=[("_id", -1)],
                                 limit=n).to_list()


async def _rest_of_group(collection: AsyncCollection[Doc], where: Doc, after: After,
                         n: int) -> list[Doc]:
    """Up to ``n`` documents of ``after``'s group listed after it (``_id`` below its last)."""
    window = after.seen + n
    while True:
        group = await _group(collection, where, after.ms, window)
        rest = [d for d in group if str(d["_id"]) < after.last_id]
        if len(rest) >= n or len(group) < window:  # (a wider window if some arrived since)
            return rest[:n]
        window *= 2


async def newest(collection: AsyncCollection[Doc], where: Doc, n: int,
                 after: After | None = None) -> list[Doc]:
    """Up to ``n`` documents of ``where`` (sargable) in ``(createdMs, _id)`` descending order,
    after ``after``: a bounded number of index reads at any depth."""
    out: list[Doc] = []
    query = where
    if after is not None:
        if after.seen:
            out = await _rest_of_group(collection, where, after, n)
        query = _with_key(where, {"$lt": after.ms})
    need = n - len(out)
    if need <= 0:
        return out
    # One reply, not a first batch of 101 and getMores (an export reads 1,000 at a time).
    docs = await collection.find(query, sort=[(SORT_KEY, -1)], limit=need + 1,
                                 batch_size=need + 1).to_list()
    if len(docs) <= need or key_of(docs[need])[0] != key_of(docs[need - 1])[0]:
        return out + _newest_first(docs[:need])  # whole groups of equal createdMs
    edge = key_of(docs[need - 1])[0]
    head = _newest_first([d for d in docs if key_of(d)[0] != edge])
    return out + head + await _group(collection, query, edge, need - len(head))


async def _seen_in_group(collection: AsyncCollection[Doc], where: Doc, last: Doc) -> int:
    """How many of ``last``'s group come before it or are it (for a page reached by skip)."""
    ms, last_id = key_of(last)
    ids = await collection.find(_with_key(where, {"$eq": ms}), {"_id": 1},
                                sort=[("_id", -1)]).to_list()
    return sum(1 for d in ids if str(d["_id"]) >= last_id)


async def count_upto(collection: AsyncCollection[Doc], where: Doc, cap: int) -> int:
    """How many documents match ``where`` (sargable), counting at most ``cap``: O(min(matches,
    cap)) on both servers (nx-27017 answers ``[{n: 0}]`` where MongoDB answers ``[]``).

    A ``$text`` search is counted by reading its ids: the embedded server answers ``$text``
    inside an aggregate ``$match`` with 0 (docs/DEVIATIONS.md)."""
    if "$text" in where:
        return len(await collection.find(where, {"_id": 1}, limit=cap).to_list())
    pipeline: list[Doc] = [{"$match": where}, {"$limit": cap}, {"$count": "n"}]
    rows = await (await collection.aggregate(pipeline)).to_list()
    return int(rows[0]["n"]) if rows else 0


def with_total(page: Doc, total: int) -> None:
    """Set a page's ``total`` (and ``totalPages``) once it is known."""
    page["total"] = total
    page["totalPages"] = math.ceil(total / page["limit"])


async def keyset_page(
    collection: AsyncCollection[Doc], where: Doc, query: CursorQuery, plural: str,
    shape: Callable[[Doc], Doc], total: int,
) -> Doc:
    """One page of ``where``: ``{<plural>, total, page, limit, totalPages, nextCursor}``.

    The first page and every page after a cursor are keyset reads; ``page`` > 1 without a cursor
    skips (O(skip): kept for the contract, the cursor is the way to read deep).
    """
    where = sargable(where)
    scope = scope_of(where)
    after = decode_cursor(query.cursor, scope) if query.cursor is not None else None
    number = after.page if after else query.page
    if after is not None or query.page == 1:
        docs = await newest(collection, where, query.limit + 1, after)
    else:
        docs = await collection.find(
            where, sort=[(SORT_KEY, -1), ("_id", -1)], skip=(query.page - 1) * query.limit,
            limit=query.limit + 1).to_list()
    more = len(docs) > query.limit
    following = docs[query.limit] if more else None
    docs = docs[:query.limit]
    next_cursor = None
    if following is not None and docs:
        ms, last_id = key_of(docs[-1])
        if key_of(following)[0] != ms:
            seen = 0  # the page ends with its group: the next one starts below ms
        elif after is None and query.page > 1:
            seen = await _seen_in_group(collection, where, docs[-1])
        else:
            seen = sum(1 for d in docs if key_of(d)[0] == ms)
            seen += after.seen if after is not None and after.ms == ms else 0
        next_cursor = After(ms, last_id, seen, number + 1, scope).encode()
    return {
        plural: [shape(doc) for doc in docs], "total": total, "page": number,
        "limit": query.limit, "totalPages": math.ceil(total / query.limit),
        "nextCursor": next_cursor,
    }
