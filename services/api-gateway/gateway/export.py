"""Export: every message of a filter, newest first, as CSV or NDJSON, in constant memory.

The messages are read in batches by keyset (``gateway.keyset.newest``: an index range per batch,
never a skip and never a cursor held open between batches) and each batch is encoded and written
before the next is read. A write that fails (the client went away) ends the export there: no
further batch is read. The gateway's view and ``relay export`` share everything here.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from gateway import present
from gateway.errors import ApiError, dumps
from gateway.keyset import After, count_upto, key_of, newest, sargable

Doc = dict[str, Any]
BATCH = 1_000
COLUMNS = ("id", *present.MESSAGE_FIELDS)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_START = frozenset("=+-@\t\r")


class ExportFormat(StrEnum):
    """The formats ``GET /messages/export`` and ``relay export`` write."""

    CSV = "csv"
    NDJSON = "ndjson"


MEDIA_TYPES = {ExportFormat.CSV: "text/csv", ExportFormat.NDJSON: "application/x-ndjson"}


def cell(value: object) -> str:
    """A CSV cell: empty for null, ``true``/``false``, timestamps as the API writes them,
    objects as compact JSON; text that a spreadsheet would run as a formula gets a ``'``."""
    if type(value) is str:  # most cells: the fast path first
        text = value
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, datetime):  # UTC (present.message): as ``errors.dumps`` writes it
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif isinstance(value, dict | list):
        text = dumps(value)
    else:
        text = str(value)
    return "'" + text if text[:1] in FORMULA_START else text


class Encoder(Protocol):
    """Turns batches of stored messages into the text of one format."""

    def header(self) -> str: ...

    def rows(self, docs: list[Doc]) -> str: ...


def _csv_row(doc: Doc) -> list[str]:
    return list(map(cell, map(present.message(doc).get, COLUMNS)))


class CsvEncoder:
    """RFC 4180 (``\\r\\n`` line ends, quotes doubled): a header row, then one row a message."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _drain(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def header(self) -> str:
        self._writer.writerow(COLUMNS)
        return self._drain()

    def rows(self, docs: list[Doc]) -> str:
        self._writer.writerows(map(_csv_row, docs))
        return self._drain()


class NdjsonEncoder:
    """One JSON object a line: the message as the API shows it."""

    def header(self) -> str:
        return ""

    def rows(self, docs: list[Doc]) -> str:
        return "".join(dumps(present.message(doc)) + "\n" for doc in docs)


def encoder_for(fmt: ExportFormat) -> Encoder:
    return CsvEncoder() if fmt is ExportFormat.CSV else NdjsonEncoder()


class MessageSource(Protocol):
    """Where exported messages come from (port; MongoDB below, a list in unit tests)."""

    def newest_first(self, where: Doc, batch: int) -> AsyncIterator[list[Doc]]:
        """The messages of ``where`` in ``(createdMs, _id)`` descending order, ``batch`` at a
        time; the next batch is read only when the consumer asks for it."""
        ...

    async def count_upto(self, where: Doc, cap: int) -> int:
        """How many messages match ``where``, counting at most ``cap``."""
        ...


class MongoMessageSource:
    """Keyset batches over ``messages``: one bounded index read a batch, at any depth."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self._collection = collection

    async def newest_first(self, where: Doc, batch: int) -> AsyncIterator[list[Doc]]:
        where = sargable(where)
        after: After | None = None
        while True:
            docs = await newest(self._collection, where, batch + 1, after)
            following = docs[batch] if len(docs) > batch else None
            docs = docs[:batch]
            if docs:
                yield docs
            if following is None:
                return
            after = _after(docs, following, after)

    async def count_upto(self, where: Doc, cap: int) -> int:
        return await count_upto(self._collection, sargable(where), cap)


def _after(docs: list[Doc], following: Doc, previous: After | None) -> After:
    """Where the next batch starts: after the last of ``docs`` (as ``keyset_page`` does)."""
    ms, last_id = key_of(docs[-1])
    seen = 0  # the batch ends with its group of equal createdMs: the next starts below ms
    if key_of(following)[0] == ms:
        seen = sum(1 for d in docs if key_of(d)[0] == ms)
        seen += previous.seen if previous is not None and previous.ms == ms else 0
    return After(ms, last_id, seen, 0)


Write = Callable[[bytes], Awaitable[None]]


async def _one_ahead(batches: AsyncIterator[list[Doc]]) -> AsyncGenerator[list[Doc], None]:
    """``batches``, reading the next while the consumer handles the current one: the database
    (its own process) reads while the gateway encodes and writes. When the consumer stops, the
    read in flight is cancelled and no other starts."""
    ahead: asyncio.Future[list[Doc] | None] = asyncio.ensure_future(anext(batches, None))
    try:
        while (docs := await ahead) is not None:
            ahead = asyncio.ensure_future(anext(batches, None))
            yield docs
    finally:
        if not ahead.done():
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ahead
        elif not ahead.cancelled():
            ahead.exception()  # retrieved: it was raised above or is of no interest now
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()


async def export(
    source: MessageSource, where: Doc, fmt: ExportFormat, write: Write, *,
    batch: int = BATCH, on_rows: Callable[[int], None] | None = None,
) -> int:
    """Write every message of ``where`` to ``write`` in ``fmt``; the number written. An
    exception from ``write`` (a client gone) stops it: the batch being read ahead is
    cancelled and no other is read."""
    encoder = encoder_for(fmt)
    header = encoder.header()
    if header:
        await write(header.encode())
    written = 0
    async with contextlib.aclosing(_one_ahead(source.newest_first(where, batch))) as batches:
        async for docs in batches:
            await write(encoder.rows(docs).encode())
            written += len(docs)
            if on_rows is not None:
                on_rows(len(docs))
    return written


class ExportSlots:
    """One export at a time per API key (in this gateway process): an export holds the
    database for seconds to minutes, and a key must not hold it more than once."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    @contextlib.contextmanager
    def hold(self, key_hash: str) -> Iterator[None]:
        """Hold the key's slot for the block; a 429 if an export of the key is running."""
        if key_hash in self._busy:
            raise ApiError(429, "An export is already running for this API key; one export "
                           "at a time per key: retry when it has finished", "RATE_LIMITED",
                           headers={"Retry-After": "5"})
        self._busy.add(key_hash)
        try:
            yield
        finally:
            self._busy.discard(key_hash)
