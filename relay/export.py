"""``relay export``: a user's messages to a file, read straight from the database with the
gateway's filters and encoders (``gateway.export``), with a progress line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from gateway.export import ExportFormat, MongoMessageSource, export
from gateway.handlers.exports import ExportQuery
from shared.db import Database

# The total is counted up to here before the export starts (O(matches)); beyond, it is unknown.
COUNTED_UP_TO = 200_000
# CLI option → the API's query parameter of the same filter.
FILTERS = {
    "account": "whatsappAccountId", "contact": "contactId", "campaign": "campaignId",
    "direction": "direction", "type": "type", "status": "status", "from": "from", "to": "to",
    "q": "q",
}


class ExportError(ValueError):
    """What stops an export before it starts, said for the operator."""


def query_of(fmt: str, filters: dict[str, str | None]) -> ExportQuery:
    """The export's query from CLI options; a bad value names its option."""
    params: dict[str, Any] = {FILTERS[name]: value for name, value in filters.items()
                              if value is not None}
    try:
        return ExportQuery.model_validate({**params, "format": fmt})
    except ValidationError as exc:
        option = {v: k for k, v in FILTERS.items()}
        problems = []
        for item in exc.errors(include_url=False):
            field = str(item["loc"][0]) if item["loc"] else ""
            what = str(item["msg"]).removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                what = "this Relay has no such filter"
            problems.append(f"--{option.get(field, field)}: {what}" if field else what)
        raise ExportError("; ".join(problems)) from None


class Progress:
    """``rows written / total`` (or just rows when the total is unknown), redrawn in place."""

    WIDTH = 30

    def __init__(self, total: int | None, stream: IO[str]) -> None:
        self.total = total
        self.done = 0
        self.stream = stream

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.total:
            filled = min(self.WIDTH, self.WIDTH * self.done // self.total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"[{bar}] {self.done:,} / {self.total:,} rows"
        else:
            line = f"{self.done:,} rows written"
        print(f"\r  {line}", end="", file=self.stream, flush=True)


async def export_to_file(
    db: Database, user_id: str, query: ExportQuery, out: Path, *,
    progress: Callable[[int | None], Callable[[int], None]] | None = None,
) -> int:
    """Write ``user_id``'s messages of ``query`` to ``out``; the number of rows written."""
    if await db.users.find_one({"_id": {"$eq": user_id}}, {"_id": 1}) is None:
        raise ExportError(f"no user {user_id!r} (the userId that `relay admin create-user` "
                          "printed)")
    if query.whatsapp_account_id is not None and await db.accounts.find_one(
            {"_id": {"$eq": query.whatsapp_account_id}, "userId": {"$eq": user_id}}) is None:
        raise ExportError(f"--account: user {user_id!r} has no account "
                          f"{query.whatsapp_account_id!r}")
    part = out.with_name(out.name + ".part")  # renamed to ``out`` once whole
    try:
        handle = part.open("wb")
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
    where = query.mongo(user_id)
    source = MongoMessageSource(db.messages)
    on_rows = None
    if progress is not None:
        counted = await source.count_upto(where, COUNTED_UP_TO)
        on_rows = progress(counted if counted < COUNTED_UP_TO else None)

    async def write(chunk: bytes) -> None:
        handle.write(chunk)

    try:
        with handle:
            rows = await export(source, where, ExportFormat(query.format), write,
                                on_rows=on_rows)
    except BaseException:  # interrupted or failed: no file that looks whole
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return rows


def stderr_progress(total: int | None) -> Callable[[int], None]:
    return Progress(total, sys.stderr)
