"""The statistics arithmetic over projection documents, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.errors import ApiError
from gateway.handlers.statistics import DailyQuery, date_range, day_series, summarise

pytestmark = pytest.mark.unit


class TestSummarise:
    """Sums over account documents; missing maps and keys count as zero."""

    def test_no_documents_is_all_zero(self) -> None:
        stats = summarise([]).model_dump(by_alias=True)
        assert stats["total"] == 0 and set(stats["byStatus"].values()) == {0}
        assert stats["deliveryRate"] == 0 and stats["readRate"] == 0

    def test_rates_come_from_outbound_statuses_only(self) -> None:
        docs = [{"total": 3, "byStatus": {"Read": 3}, "outboundByStatus": {"Delivered": 1}},
                {"total": 1, "outboundByStatus": {"Sent": 1, "Read": 2}}]
        stats = summarise(docs)
        assert stats.total == 4
        assert stats.delivery_rate == pytest.approx(3 / 4, abs=1e-6)
        assert stats.read_rate == pytest.approx(2 / 3, abs=1e-6)

    def test_unknown_keys_in_the_projection_are_not_shown(self) -> None:
        stats = summarise([{"byType": {"Sticker": 4, "Text": 1}}]).model_dump(by_alias=True)
        assert stats["byType"] == {"Text": 1, "Image": 0, "Video": 0, "Audio": 0, "Document": 0,
                                   "Template": 0, "Interactive": 0, "Location": 0,
                                   "Reaction": 0, "Unsupported": 0}


class TestDailyRange:
    """Defaults to the last 30 days; at most 366; from after to is refused."""

    def test_defaults(self) -> None:
        assert date_range(DailyQuery(), today=date(2026, 3, 1)) == (date(2026, 1, 31),
                                                                   date(2026, 3, 1))

    def test_only_from_runs_to_today(self) -> None:
        query = DailyQuery.model_validate({"from": "2026-02-20"})
        assert date_range(query, today=date(2026, 3, 1)) == (date(2026, 2, 20), date(2026, 3, 1))

    @pytest.mark.parametrize(("first", "last"), [("2026-03-02", "2026-03-01"),
                                                 ("2025-01-01", "2026-01-02")])
    def test_refused(self, first: str, last: str) -> None:
        query = DailyQuery.model_validate({"from": first, "to": last})
        with pytest.raises(ApiError) as caught:
            date_range(query, today=date(2026, 3, 1))
        assert caught.value.status == 400

    def test_series_is_zero_filled_and_summed(self) -> None:
        docs = [{"days": {"2026-03-01": {"sent": 1, "bogus": 5}}},
                {"days": {"2026-03-01": {"sent": 2}, "2026-02-01": {"sent": 9}}}]
        series = day_series(docs, date(2026, 2, 28), date(2026, 3, 1)).model_dump()["days"]
        assert [(d["date"], d["sent"]) for d in series] == [("2026-02-28", 0), ("2026-03-01", 3)]

