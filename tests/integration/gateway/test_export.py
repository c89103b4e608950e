"""GET /messages/export on the real database through the real gateway: both formats round-trip
to the list's rows, formula cells escaped, tenants isolated, bad input 400, one export at a time
per key (429), and a client that goes away stops the export."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway import keys
from gateway.export import MongoMessageSource
from shared.db import Database
from shared.messages import new_outbound, searchable
from shared.models import MessageStatus, MessageType
from shared.settings import Settings, env_for
from tests.conftest import eventually
from tests.integration.gateway.conftest import API, Client, Tenant

pytestmark = pytest.mark.integration

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OBJECTS = {"template", "interactive", "location", "reaction", "raw"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def store(db: Database, tenant: Tenant, n: int, *, content: str = "message {i}",
                **fields: Any) -> list[str]:
    """``n`` messages as the message store writes them, inserted at once; every fifth shares
    its ``createdMs`` with the one before (ties on the keyset). Their ids, newest first."""
    docs = []
    for i in range(n):
        message = new_outbound(
            user_id=tenant.user_id, account_id=tenant.account_id, contact_id=f"contact-{i % 7}",
            to=f"+1555{i % 100:07d}", type=MessageType.TEXT, content=content.format(i=i),
            now=BASE + timedelta(milliseconds=i - i % 5 // 4))
        docs.append({**searchable(message).to_doc(), "eventPending": False, "dispatched": True,
                     **fields})
    await db.messages.insert_many(docs)
    return [d["_id"] for d in sorted(docs, key=lambda d: (d["createdMs"], d["_id"]),
                                     reverse=True)]


async def export(api: Client, **params: str) -> tuple[int, dict[str, str], bytes]:
    async with api.http.get(f"{API}/messages/export", params=params,
                            headers=api.tenant.auth) as response:
        return response.status, dict(response.headers), await response.read()


async def listed(api: Client, **params: str) -> list[dict[str, Any]]:
    """Every row of ``GET /messages`` with ``params``, by cursor pages of 100."""
    rows: list[dict[str, Any]] = []
    query: dict[str, str] = {**params, "limit": "100"}
    while True:
        status, body = await api.call("GET", "/messages", params=query)
        assert status == 200, body
        rows += body["data"]["messages"]
        if body["data"]["nextCursor"] is None:
            return rows
        query = {**params, "limit": "100", "cursor": body["data"]["nextCursor"]}


def parsed_csv(raw: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of a CSV export, each cell back to the API's JSON value."""
    reader = csv.reader(io.StringIO(raw.decode(), newline=""))
    header = next(reader)
    return header, [{name: value(name, text) for name, text in zip(header, row, strict=True)}
                    for row in reader]


def value(name: str, text: str) -> Any:
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if name in OBJECTS:
        return json.loads(text)
    if name == "attempts":
        return int(text)
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def as_listed(header: list[str], row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in header}


class TestRoundTrip:
    """Both formats hold exactly the list's rows, in the list's order."""

    async def test_ten_thousand_messages_in_csv_and_ndjson_equal_the_list(
        self, api: Client, api_b: Client, db: Database
    ) -> None:
        ids = await store(db, api.tenant, 10_000)
        await store(db, api_b.tenant, 50, content="bob's {i}")
        rows = await listed(api)
        assert [r["id"] for r in rows] == ids

        status, headers, raw = await export(api, format="ndjson")
        assert status == 200
        assert headers["Content-Type"].startswith("application/x-ndjson")
        assert headers["Transfer-Encoding"] == "chunked"
        assert [json.loads(line) for line in raw.decode().splitlines()] == rows

        status, headers, raw = await export(api, format="csv")
        assert status == 200
        assert headers["Content-Type"].startswith("text/csv")
        assert headers["Content-Disposition"].startswith('attachment; filename="messages-')
        assert headers["Content-Disposition"].endswith('.csv"')
        header, exported = parsed_csv(raw)
        assert header[0] == "id" and {"content", "status", "createdAt", "to"} <= set(header)
        assert exported == [as_listed(header, r) for r in rows]


class TestBatches:
    """Keyset batches on the real database: groups of equal ``createdMs`` cut by batch edges
    are read whole and once."""

    @pytest.mark.parametrize("batch", [1, 2, 3, 7])
    async def test_every_message_once_in_order(self, db: Database, alice: Tenant,
                                               batch: int) -> None:
        docs = []
        for i, offset in enumerate([0, 0, 0, 0, 0, 1, 2, 2, 2, 5, 5, 9, 9, 9, 9, 9, 9, 9]):
            message = new_outbound(
                user_id=alice.user_id, account_id=alice.account_id, contact_id="c", to="+1555",
                type=MessageType.TEXT, content=f"m{i}", now=BASE + timedelta(milliseconds=offset))
            docs.append(message.to_doc())
        await db.messages.insert_many(docs)
        sizes = []
        seen = []
        async for got in MongoMessageSource(db.messages).newest_first(
                {"userId": alice.user_id}, batch):
            sizes.append(len(got))
            seen += [d["_id"] for d in got]
        assert seen == [d["_id"] for d in sorted(
            docs, key=lambda d: (d["createdMs"], d["_id"]), reverse=True)]
        assert set(sizes[:-1]) == {batch}


class TestCells:
    async def test_a_formula_comes_back_escaped(self, api: Client, db: Database) -> None:
        for text in ("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain"):
            await store(db, api.tenant, 1, content=text)
        status, _, raw = await export(api)  # csv by default
        assert status == 200
        cells = [row["content"] for row in csv.DictReader(io.StringIO(raw.decode(), newline=""))]
        assert sorted(cells) == sorted(["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)",
                                        "'\tx", "'\rx", "plain"])

    async def test_filters_of_the_list_apply(self, api: Client, db: Database) -> None:
        failed = await store(db, api.tenant, 30, status=MessageStatus.FAILED.value)
        await store(db, api.tenant, 40)
        status, _, raw = await export(api, format="ndjson", status="Failed")
        assert status == 200
        assert {json.loads(line)["id"] for line in raw.decode().splitlines()} == set(failed)


    async def test_a_search_exports_its_matches_only(
        self, api: Client, api_b: Client, db: Database
    ) -> None:
        found = await store(db, api.tenant, 5, content="parcel {i} delayed at the depot")
        await store(db, api.tenant, 30, content="parcel {i} delivered")
        await store(db, api_b.tenant, 5, content="parcel {i} delayed at the depot")
        status, _, raw = await export(api, format="ndjson", q="Delayed PARCEL")
        assert status == 200
        assert [json.loads(line)["id"] for line in raw.decode().splitlines()] == found


class TestTenancy:
    async def test_another_users_messages_never_appear(
        self, api: Client, api_b: Client, db: Database
    ) -> None:
        mine = await store(db, api.tenant, 20, content="secret {i}")
        theirs = await store(db, api_b.tenant, 20, content="secret {i}")
        _, _, raw = await export(api_b, format="ndjson")
        exported = {json.loads(line)["id"] for line in raw.decode().splitlines()}
        assert exported == set(theirs) and not exported & set(mine)

    async def test_another_users_account_is_404(self, api: Client, api_b: Client) -> None:
        status, _, raw = await export(api, whatsappAccountId=api_b.tenant.account_id)
        assert status == 404, raw


class TestBadInput:
    @pytest.mark.parametrize(("params", "field"), [
        ({"format": "xlsx"}, "format"), ({"format": "csv", "page": "2"}, "page"),
        ({"cursor": "abc"}, "cursor"), ({"status": "Lost"}, "status"),
    ])
    async def test_is_a_400_naming_the_field(
        self, api: Client, params: dict[str, str], field: str
    ) -> None:
        status, _, raw = await export(api, **params)
        body = json.loads(raw)
        assert status == 400 and body["code"] == "VALIDATION_ERROR"
        assert body["details"][0]["field"] == field

    async def test_needs_the_read_scope(self, api: Client, http: TestClient, db: Database,
                                       alice: Tenant) -> None:
        from relay import admin

        key = (await admin.create_key(db, alice.user_id, ["messages:write"]))["apiKey"]
        async with http.get(f"{API}/messages/export",
                            headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 403


def exported_rows(http: TestClient, fmt: str) -> float:
    value = http.server.app[keys.REGISTRY].get_sample_value(
        "relay_gateway_exported_rows_total", {"format": fmt})
    return value or 0.0


class TestOneAtATime:
    """An export holds its key's slot until it ends; a client that goes away ends it."""

    async def test_a_second_export_is_429_and_a_disconnect_stops_the_first(
        self, api: Client, http: TestClient, db: Database
    ) -> None:
        total = 5_000  # 4 kB each: 20 MB, more than the sockets buffer
        await store(db, api.tenant, total, content="{i} " + "x" * 4_000)
        first = await http.get(f"{API}/messages/export", params={"format": "ndjson"},
                               headers=api.tenant.auth)
        assert first.status == 200
        assert await first.content.readany()

        status, headers, raw = await export(api, format="csv")
        assert status == 429 and json.loads(raw)["code"] == "RATE_LIMITED", raw
        assert "Retry-After" in headers

        first.close()  # the client goes away mid-export

        async def slot_free() -> bool:
            return (await export(api, status="Cancelled"))[0] == 200

        await eventually(slot_free, message="the export stopped and freed its slot")
        stopped_at = exported_rows(http, "ndjson")
        assert stopped_at <= total / 2  # what the sockets could hold, far from all of it
        assert (await export(api, status="Cancelled"))[0] == 200
        assert exported_rows(http, "ndjson") == stopped_at  # no batch read since


def relay_export(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.cli", "export", *argv],
                          env=env_for(settings), capture_output=True, text=True, timeout=120,
                          check=False)


class TestCli:
    """``relay export`` reads the database with the API's filters and encoders."""

    async def test_writes_the_apis_export(
        self, api: Client, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        await store(db, api.tenant, 1_500, content="=row {i}")
        await store(db, api.tenant, 20, status=MessageStatus.FAILED.value)
        for fmt, filters in (("csv", []), ("ndjson", ["--status", "Failed"])):
            out = tmp_path / f"out.{fmt}"
            done = relay_export(settings, "--user", api.tenant.user_id, "--format", fmt,
                                "--out", str(out), "--account", api.tenant.account_id, *filters)
            assert done.returncode == 0, done.stderr
            params = {"format": fmt, "status": "Failed"} if filters else {"format": fmt}
            assert out.read_bytes() == (await export(api, **params))[2]
            assert json.loads(done.stdout)["rows"] == (20 if filters else 1_520)
        assert "20 / 20 rows" in done.stderr
        assert sorted(os.listdir(tmp_path)) == ["out.csv", "out.ndjson"]  # no .part left

    @pytest.mark.parametrize(("argv", "said"), [
        (["--user", "nobody"], "no user 'nobody'"),
        (["--from", "yesterday"], "--from"),
        (["--out", "/proc/relay-export.csv"], "cannot write /proc/relay-export.csv"),
    ])
    async def test_says_what_is_wrong(
        self, alice: Tenant, settings: Settings, tmp_path: Path, argv: list[str], said: str
    ) -> None:
        options = {"--user": alice.user_id, "--format": "csv", "--out": str(tmp_path / "x.csv")}
        options.update(zip(argv[::2], argv[1::2], strict=True))
        done = relay_export(settings, *[part for pair in options.items() for part in pair])
        assert done.returncode != 0 and said in done.stderr, done.stderr
