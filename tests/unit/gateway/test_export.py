"""The export's encoders, its stop on a failed write, the one-export-per-key slot and the
CLI's query and progress line, on the in-memory message source."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from gateway.errors import ApiError
from gateway.export import COLUMNS, ExportFormat, ExportSlots, cell, export
from relay.export import ExportError, Progress, query_of
from tests.unit.fakes import FakeMessageSource

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC)


def doc(i: int, **fields: object) -> dict[str, object]:
    return {"_id": f"m{i:04d}", "userId": "u1", "whatsappAccountId": "a1", "direction":
            "Outbound", "type": "Text", "content": f"message {i}", "status": "Sent",
            "createdAt": AT, "createdMs": 1_000 + i, "version": 3, "claimedBy": "x", **fields}


class Sink:
    """A ``write`` that keeps what it got and can fail after ``fail_after`` writes."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.chunks: list[bytes] = []
        self.fail_after = fail_after

    async def __call__(self, chunk: bytes) -> None:
        if self.fail_after is not None and len(self.chunks) >= self.fail_after:
            raise ConnectionResetError("Cannot write to closing transport")
        self.chunks.append(chunk)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()


class TestCell:
    @pytest.mark.parametrize("text", ["=1+1", "+1555", "-2", "@SUM(A1)", "\tx", "\rx"])
    def test_a_formula_start_is_quoted(self, text: str) -> None:
        assert cell(text) == "'" + text

    def test_values_read_as_the_api_writes_them(self) -> None:
        assert [cell(None), cell(True), cell(False), cell(3), cell(AT), cell({"a": [1]}),
                cell("a=b")] == ["", "true", "false", "3", "2026-11-01T12:00:00.123Z",
                                 '{"a":[1]}', "a=b"]


class TestExport:
    """Every match, newest first, in batches; internal fields never leave."""

    async def test_csv_is_rfc_4180_with_a_header(self) -> None:
        source = FakeMessageSource([doc(1, content='say "hi",\nthen go'), doc(2)])
        sink = Sink()
        assert await export(source, {"userId": "u1"}, ExportFormat.CSV, sink) == 2
        assert sink.text.startswith(",".join(COLUMNS) + "\r\n")
        rows = list(csv.DictReader(io.StringIO(sink.text, newline="")))
        assert [r["id"] for r in rows] == ["m0002", "m0001"]
        assert rows[1]["content"] == 'say "hi",\nthen go'
        assert '"say ""hi"",\nthen go"' in sink.text
        assert "version" not in rows[0] and "claimedBy" not in rows[0]

    async def test_ndjson_is_one_message_a_line(self) -> None:
        source = FakeMessageSource([doc(i) for i in range(5)] + [doc(9, userId="u2")])
        sink = Sink()
        await export(source, {"userId": "u1"}, ExportFormat.NDJSON, sink, batch=2)
        lines = [json.loads(line) for line in sink.text.splitlines()]
        assert [m["id"] for m in lines] == ["m0004", "m0003", "m0002", "m0001", "m0000"]
        assert lines[0]["createdAt"] == "2026-11-01T12:00:00.123Z"
        assert "version" not in lines[0] and lines[0]["attempts"] == 0
        assert len(sink.chunks) == 3 and source.batches_read == 3

    async def test_a_failed_write_reads_no_other_batch(self) -> None:
        source = FakeMessageSource([doc(i) for i in range(100)])
        sink = Sink(fail_after=2)  # the header and one batch
        read_by_write: list[int] = []

        async def write(chunk: bytes) -> None:
            read_by_write.append(source.batches_read)
            await sink(chunk)

        with pytest.raises(ConnectionResetError):
            await export(source, {"userId": "u1"}, ExportFormat.CSV, write, batch=10)
        assert source.batches_read == read_by_write[-1] <= 3  # at most one read ahead
        assert len(sink.chunks) == 2

    async def test_counts_rows_as_it_goes(self) -> None:
        seen: list[int] = []
        await export(FakeMessageSource([doc(i) for i in range(25)]), {"userId": "u1"},
                     ExportFormat.NDJSON, Sink(), batch=10, on_rows=seen.append)
        assert seen == [10, 10, 5]


class TestExportSlots:
    """One export at a time per key; the slot frees however the export ends."""

    def test_a_second_export_of_a_key_is_429(self) -> None:
        slots = ExportSlots()
        with slots.hold("k1"), slots.hold("k2"):
            with pytest.raises(ApiError) as caught, slots.hold("k1"):
                pass
            assert caught.value.status == 429 and caught.value.code == "RATE_LIMITED"
        with slots.hold("k1"):
            pass

    def test_a_failed_export_frees_its_slot(self) -> None:
        slots = ExportSlots()
        with pytest.raises(ConnectionResetError), slots.hold("k1"):
            raise ConnectionResetError
        with slots.hold("k1"):
            pass


class TestCliQuery:
    def test_options_are_the_lists_filters(self) -> None:
        query = query_of("ndjson", {"status": "Failed", "account": "a1", "contact": None})
        assert query.format is ExportFormat.NDJSON
        assert query.mongo("u1") == {"userId": "u1", "whatsappAccountId": "a1",
                                     "status": "Failed"}

    def test_a_bad_value_names_its_option(self) -> None:
        with pytest.raises(ExportError, match="--status"):
            query_of("csv", {"status": "Lost"})

    def test_progress_shows_rows_of_the_total(self) -> None:
        out = io.StringIO()
        progress = Progress(40, out)
        progress(10)
        progress(10)
        assert out.getvalue().endswith("20 / 40 rows") and "#" * 15 in out.getvalue()
        bare = io.StringIO()
        Progress(None, bare)(5)
        assert bare.getvalue().endswith("5 rows written")
