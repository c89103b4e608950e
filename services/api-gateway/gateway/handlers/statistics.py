"""``GET /messages/statistics`` and ``/messages/statistics/daily``: reads of the stats projection.

Never a count over messages: the stats service keeps one ``stats_accounts`` document per
account; a user's numbers are the sum over its accounts (one query on ``userId``), so the cost
depends on the number of accounts, not of messages.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web
from pydantic import Field, create_model, field_validator

from gateway import keys
from gateway.auth import principal_of
from gateway.errors import ok, validation_error
from gateway.parsing import Query, parse_query
from gateway.spec import operation
from gateway.tenancy import own_account
from shared.db import Database
from shared.models import Direction, MessageStatus, MessageType, Model, utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 366
DAY_FIELDS = ("sent", "delivered", "read", "failed", "received")
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def _counts_model(name: str, values: type[Any]) -> Any:
    fields: dict[str, Any] = {v.value: (int, Field(0, ge=0)) for v in values}
    return create_model(name, __doc__=f"Messages per {values.__name__} value.", **fields)


StatusCounts = _counts_model("StatusCounts", MessageStatus)
DirectionCounts = _counts_model("DirectionCounts", Direction)
TypeCounts = _counts_model("TypeCounts", MessageType)


class StatisticsQuery(Query):
    whatsapp_account_id: str | None = Field(
        None, min_length=1, max_length=100, description="Only this account (else all yours)."
    )


class Statistics(Model):
    """Counters of the caller's messages, from the stats projection."""

    total: int = Field(description="Every message, inbound and outbound.")
    by_status: StatusCounts = Field(description="By current status; every status present.")  # type: ignore[valid-type]
    by_direction: DirectionCounts = Field(description="Inbound and Outbound.")  # type: ignore[valid-type]
    by_type: TypeCounts = Field(description="By message type; every type present.")  # type: ignore[valid-type]
    delivery_rate: float = Field(
        description="Outbound (Delivered + Read) / (Sent + Delivered + Read); 0 if none."
    )
    read_rate: float = Field(description="Outbound Read / (Delivered + Read); 0 if none.")


class DailyQuery(Query):
    whatsapp_account_id: str | None = Field(
        None, min_length=1, max_length=100, description="Only this account (else all yours)."
    )
    from_: str | None = Field(
        None, alias="from", pattern=DATE_PATTERN,
        description="First day, YYYY-MM-DD (UTC); default 29 days before `to`.",
    )
    to: str | None = Field(
        None, pattern=DATE_PATTERN, description="Last day, YYYY-MM-DD (UTC); default today."
    )

    @field_validator("from_", "to")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value} is not a calendar date (YYYY-MM-DD)") from None
        return value


class DayPoint(Model):
    """One UTC day of outbound progress and inbound arrivals."""

    date: str = Field(description="YYYY-MM-DD (UTC).")
    sent: int = Field(0, description="Outbound messages that reached Sent that day.")
    delivered: int = Field(0, description="Outbound messages delivered that day.")
    read: int = Field(0, description="Outbound messages read that day.")
    failed: int = Field(0, description="Outbound messages that failed that day.")
    received: int = Field(0, description="Inbound messages received that day.")


class DailyStatistics(Model):
    """A zero-filled series, one entry per day from ``from`` to ``to`` inclusive."""

    days: list[DayPoint]


def _rate(numerator: int, divisor: int) -> float:
    return round(numerator / divisor, 6) if divisor else 0.0


def _sum_maps(docs: list[dict[str, Any]], field: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for doc in docs:
        for key, value in (doc.get(field) or {}).items():
            totals[key] = totals.get(key, 0) + int(value or 0)
    return totals


def summarise(docs: list[dict[str, Any]]) -> Statistics:
    """The statistics of the given ``stats_accounts`` documents, summed."""
    outbound = _sum_maps(docs, "outboundByStatus")
    sent, delivered, read = (outbound.get(s.value, 0) for s in
                             (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ))
    return Statistics(
        total=sum(int(doc.get("total") or 0) for doc in docs),
        by_status=StatusCounts(**_known(_sum_maps(docs, "byStatus"), MessageStatus)),
        by_direction=DirectionCounts(**_known(_sum_maps(docs, "byDirection"), Direction)),
        by_type=TypeCounts(**_known(_sum_maps(docs, "byType"), MessageType)),
        delivery_rate=_rate(delivered + read, sent + delivered + read),
        read_rate=_rate(read, delivered + read),
    )


def _known(counts: dict[str, int], values: type[Any]) -> dict[str, int]:
    return {v.value: counts.get(v.value, 0) for v in values}


def day_series(docs: list[dict[str, Any]], first: date, last: date) -> DailyStatistics:
    """Per-day sums over ``docs`` for every day from ``first`` to ``last``, zeros included."""
    days = []
    for offset in range((last - first).days + 1):
        key = (first + timedelta(days=offset)).isoformat()
        point = dict.fromkeys(DAY_FIELDS, 0)
        for doc in docs:
            for field, value in ((doc.get("days") or {}).get(key) or {}).items():
                if field in point:
                    point[field] += int(value or 0)
        days.append(DayPoint(date=key, **point))
    return DailyStatistics(days=days)


def date_range(query: DailyQuery, *, today: date) -> tuple[date, date]:
    """``from``/``to`` with their defaults; 400 when reversed or longer than a leap year."""
    last = date.fromisoformat(query.to) if query.to else today
    first = (date.fromisoformat(query.from_) if query.from_
             else last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise validation_error(f"from ({first}) must not be after to ({last})", "from")
    if (last - first).days + 1 > MAX_DAYS:
        raise validation_error(f"The range may span at most {MAX_DAYS} days", "from")
    return first, last


async def projection_docs(
    db: Database, user_id: str, account_id: str | None, *, with_days: bool
) -> list[dict[str, Any]]:
    """The caller's ``stats_accounts`` documents (one account's, after an ownership check)."""
    await own_account(db, user_id, account_id)
    fields = ["total", "byStatus", "byDirection", "byType", "outboundByStatus"]
    projection = dict.fromkeys(["days"] if with_days else fields, 1)
    where: dict[str, Any] = {"userId": user_id}
    if account_id is not None:
        where["_id"] = account_id
    return await db.stats_accounts.find(where, projection).to_list(None)


@operation(summary="Message statistics", tag="Statistics", scope="messages:read",
           query=StatisticsQuery, response=Statistics)
async def get_statistics(request: web.Request) -> web.Response:
    """Totals by status, direction and type, and the outbound delivery and read rates."""
    query = parse_query(request, StatisticsQuery)
    docs = await projection_docs(request.app[keys.DB], principal_of(request).user_id,
                                 query.whatsapp_account_id, with_days=False)
    return ok(summarise(docs).model_dump(by_alias=True))


@operation(summary="Daily message statistics", tag="Statistics", scope="messages:read",
           query=DailyQuery, response=DailyStatistics)
async def get_daily_statistics(request: web.Request) -> web.Response:
    """Sent, delivered, read, failed and received per UTC day, for charts."""
    query = parse_query(request, DailyQuery)
    first, last = date_range(query, today=utcnow().date())
    docs = await projection_docs(request.app[keys.DB], principal_of(request).user_id,
                                 query.whatsapp_account_id, with_days=True)
    return ok(day_series(docs, first, last).model_dump(by_alias=True))
