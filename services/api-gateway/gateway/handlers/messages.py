"""Messages: send, list, get, mark read, retry, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiohttp import web
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from gateway import keys, present
from gateway.accept import SendMessageBody
from gateway.auth import principal_of
from gateway.errors import conflict, not_found, ok
from gateway.idempotency import Answer, canonical_json, idempotent_view
from gateway.keyset import CursorQuery, count_upto, keyset_page, sargable, with_total
from gateway.parsing import parse_query, read_json, validate
from gateway.schemas import MessageList, MessageOut
from gateway.spec import operation
from gateway.tenancy import own_account
from shared import search, topology
from shared.broker import PublishError
from shared.db import Database, created_ms
from shared.headers import IDEMPOTENCY_KEY
from shared.messages import Message, VersionConflict
from shared.models import Direction, MarkRead, MessageStatus, MessageType, as_utc, utcnow

log = structlog.get_logger("relay.gateway.messages")
TAG = "Messages"
QUEUED_MESSAGE = "Message queued for sending"


class ListMessagesQuery(CursorQuery):
    """Filters of ``GET /messages`` (and of its export); every one optional, all combined.

    :meth:`mongo` is the one place the filter is built: the list, the export and
    ``relay export`` all call it."""

    whatsapp_account_id: str | None = Field(None, max_length=100)
    contact_id: str | None = Field(None, max_length=100)
    campaign_id: str | None = Field(None, max_length=100, description="Only this campaign's.")
    direction: Direction | None = None
    type: MessageType | None = None
    status: MessageStatus | None = None
    q: str | None = Field(
        None, max_length=search.MAX_QUERY,
        description="Full-text search: every word (letters and digits; case and accents "
                    "ignored) must occur in the content, the contact's name or its phone "
                    f"number. At most {search.MAX_QUERY} characters.")
    start_date: datetime | None = Field(None, description="Created at or after (ISO-8601).")
    end_date: datetime | None = Field(None, description="Created at or before (ISO-8601).")
    from_: datetime | None = Field(None, alias="from",
                                   description="Created at or after (ISO-8601); as `startDate`.")
    to: datetime | None = Field(None, description="Created at or before (ISO-8601); as `endDate`.")

    @field_validator("start_date", "end_date", "from_", "to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("q")
    @classmethod
    def _has_words(cls, value: str | None) -> str | None:
        if value is not None and search.text_filter(value) is None:
            raise ValueError("q must contain at least one letter or digit")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ListMessagesQuery:
        for short, seed, fields in (("from", "startDate", {"from_", "start_date"}),
                                    ("to", "endDate", {"to", "end_date"})):
            if fields <= self.model_fields_set:
                _refuse(short, f"{short} and {seed} are the same bound; send one of them")
        if self.since and self.until and self.since > self.until:
            _refuse("from" if self.from_ else "startDate",
                    f"{'from' if self.from_ else 'startDate'} must not be after "
                    f"{'to' if self.to else 'endDate'}")
        return self

    @property
    def since(self) -> datetime | None:
        return self.from_ or self.start_date

    @property
    def until(self) -> datetime | None:
        return self.to or self.end_date

    def mongo(self, user_id: str) -> dict[str, Any]:
        """The MongoDB filter of these filters for ``user_id``'s messages (plain equalities;
        ``gateway.keyset.sargable`` writes them the embedded server's indexable way)."""
        query: dict[str, Any] = {"userId": user_id}
        for name, field in (("whatsapp_account_id", "whatsappAccountId"),
                            ("contact_id", "contactId"), ("campaign_id", "campaignId"),
                            ("direction", "direction"), ("type", "type"), ("status", "status")):
            value = getattr(self, name)
            if value is not None:
                query[field] = str(value)
        # On the numeric createdMs (a date in a filter scans on the embedded server).
        # createdAt >= start <=> createdMs >= ceil(start in ms); <= end <=> <= floor(end).
        created: dict[str, int] = {}
        if self.since:
            created["$gte"] = created_ms(self.since, up=True)
        if self.until:
            created["$lte"] = created_ms(self.until)
        if created:
            query["createdMs"] = created
        text = search.text_filter(self.q) if self.q is not None else None
        if text is not None:
            query["$text"] = text
        return query


def _refuse(field: str, message: str) -> None:
    """A validation error naming ``field`` (a model check names none by itself)."""
    raise ValidationError.from_exception_data("ListMessagesQuery", [InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=(field,), input=None)])


@operation(summary="Send a message", tag=TAG, scope="messages:write", body=SendMessageBody,
           response=MessageOut, status=202, errors=(400, 401, 403, 404, 409, 413, 429),
           headers={IDEMPOTENCY_KEY: "Makes a repeated request return the first answer (24 h)."})
async def send_message(request: web.Request) -> web.Response:
    principal = principal_of(request)
    data = await read_json(request)

    async def work() -> Answer:
        body = validate(SendMessageBody, data)
        doc = await request.app[keys.ACCEPTOR].accept(
            principal.user_id, body, idempotency_key=request.headers.get(IDEMPOTENCY_KEY))
        return Answer(202, {"success": True, "message": QUEUED_MESSAGE,
                            "data": present.message(doc)})

    return await idempotent_view(request, principal.user_id, canonical_json(data), work,
                                 replays=request.app[keys.METRICS].idempotent_replays)


@operation(summary="List messages, newest first", tag=TAG, scope="messages:read",
           query=ListMessagesQuery, response=MessageList, errors=(400, 401, 403, 404))
async def list_messages(request: web.Request) -> web.Response:
    query = parse_query(request, ListMessagesQuery)
    db = request.app[keys.DB]
    await own_account(db, principal_of(request).user_id, query.whatsapp_account_id)
    where = query.mongo(principal_of(request).user_id)
    total = await projected_total(db, where)
    page = await keyset_page(db.messages, where, query, "messages", present.message, total or 0)
    if total is None:  # a first page that is also the last one is its own count
        alone = query.cursor is None and query.page == 1 and page["nextCursor"] is None
        with_total(page, len(page["messages"]) if alone else
                   await count_upto(db.messages, sargable(where), COUNTED_UP_TO))
    return ok(page)


# Below this many matches the total is counted exactly; at or above, the stats projection
# answers it (the same counters as /messages/statistics, a few milliseconds behind), and a
# filter the projection does not count stops counting there (the total then means "at least").
COUNTED_UP_TO = 10_000
PROJECTED = {"status": "byStatus", "direction": "byDirection", "type": "byType"}


async def projected_total(db: Database, where: dict[str, Any]) -> int | None:
    """The list's total from the stats projection, in O(accounts), when the filter is one the
    projection counts (account, and at most one of status, direction or type) and the total
    is large; None means "count it". A count over a large store costs O(matches): seconds at a
    million messages on the embedded server."""
    rest = {k: v for k, v in where.items() if k not in ("userId", "whatsappAccountId")}
    if len(rest) > 1 or not set(rest) <= set(PROJECTED):
        return None
    counters = {"userId": where["userId"]}
    if "whatsappAccountId" in where:
        counters["_id"] = where["whatsappAccountId"]
    [(field, value)] = rest.items() or [(None, None)]
    total = 0
    async for doc in db.stats_accounts.find(counters, {"total": 1, **dict.fromkeys(
            PROJECTED.values(), 1)}):
        total += int(doc.get("total") or 0) if field is None else \
            int((doc.get(PROJECTED[field]) or {}).get(value) or 0)
    return total if total >= COUNTED_UP_TO else None


async def _load(request: web.Request) -> dict[str, Any]:
    doc = await request.app[keys.DB].messages.find_one(
        {"_id": request.match_info["id"], "userId": principal_of(request).user_id})
    if doc is None:
        raise not_found("Message")
    return doc


@operation(summary="Get a message", tag=TAG, scope="messages:read", response=MessageOut)
async def get_message(request: web.Request) -> web.Response:
    return ok(present.message(await _load(request)))


Decision = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


async def _change(request: web.Request, decide: Decision) -> tuple[dict[str, Any], bool]:
    """Apply ``decide`` to the message, re-reading on a version conflict.

    ``decide`` returns the new document, or None when nothing needs changing.
    """
    for _ in range(5):
        doc = await _load(request)
        try:
            changed = await decide(doc)
        except VersionConflict:
            continue
        return (changed, True) if changed is not None else (doc, False)
    raise conflict("The message is changing; retry shortly")


async def _move(
    app: web.Application, doc: dict[str, Any], target: MessageStatus, *,
    fields: dict[str, Any], retry: bool = False,
) -> dict[str, Any] | None:
    """Move the message ``doc`` through the message store and queue its event; None when the
    lifecycle forbids it. An event a dead writer left unrecorded is queued first."""
    outbox = app[keys.OUTBOX]
    outbox.add_pending(doc)
    messages = app[keys.ACCEPTOR].messages
    new = await messages.move(Message.from_doc(doc), target, fields=fields, retry=retry)
    if new is None:
        return None
    moved = new.to_doc()
    outbox.add(moved)
    return moved


@operation(summary="Mark an inbound message as read", tag=TAG, scope="messages:write",
           response=MessageOut, errors=(401, 403, 404, 409))
async def mark_read(request: web.Request) -> web.Response:
    app = request.app

    async def decide(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc["direction"] != Direction.INBOUND:
            raise conflict("Only inbound messages can be marked as read")
        if doc["status"] == MessageStatus.READ:
            return None
        new = await _move(app, doc, MessageStatus.READ, fields={"readAt": utcnow()})
        if new is None:
            raise conflict(f"A {doc['status']} message cannot be marked as read")
        return new

    doc, changed = await _change(request, decide)
    if changed:
        await _after_read(app, doc)
    return ok(present.message(doc))


async def _after_read(app: web.Application, doc: dict[str, Any]) -> None:
    if doc.get("contactId"):
        await app[keys.DB].contacts.update_one(
            {"_id": doc["contactId"], "unreadCount": {"$gt": 0}}, {"$inc": {"unreadCount": -1}})
    if not doc.get("whatsappMessageId"):
        return
    command = MarkRead(message_id=doc["_id"], whatsapp_account_id=doc["whatsappAccountId"],
                       whatsapp_message_id=doc["whatsappMessageId"])
    shard = topology.shard_of(doc["whatsappAccountId"], app[keys.SETTINGS].send_shards)
    try:
        await app[keys.BROKER].publish(topology.SEND, topology.shard_key(shard), command)
    except PublishError as exc:
        log.warning("read_receipt_publish_failed", message_id=doc["_id"], error=str(exc)[:300])


@operation(summary="Retry a failed message", tag=TAG, scope="messages:write",
           response=MessageOut, status=202, errors=(401, 403, 404, 409))
async def retry_message(request: web.Request) -> web.Response:
    app = request.app

    async def decide(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc["status"] != MessageStatus.FAILED:
            raise conflict(f"Only Failed messages can be retried; this one is {doc['status']}")
        return await _move(app, doc, MessageStatus.QUEUED, retry=True, fields={
            "attempts": 0, "errorMessage": None, "lastError": None, "claimedBy": None,
            "claimedAt": None, "claimUntil": 0, "dispatched": False})

    doc, _ = await _change(request, decide)
    await app[keys.ACCEPTOR].dispatch(doc)
    return ok(present.message(doc), status=202, message=QUEUED_MESSAGE)


@operation(summary="Cancel a queued message", tag=TAG, scope="messages:write",
           response=MessageOut, errors=(401, 403, 404, 409))
async def cancel_message(request: web.Request) -> web.Response:
    app = request.app
    timeout = timedelta(seconds=app[keys.SETTINGS].claim_timeout_seconds)

    async def decide(doc: dict[str, Any]) -> dict[str, Any] | None:
        if doc["status"] != MessageStatus.QUEUED:
            raise conflict(f"Only Queued messages can be cancelled; this one is {doc['status']}")
        claimed = as_utc(doc.get("claimedAt"))  # a string on nx-27017 (docs/DEVIATIONS.md)
        if doc.get("claimedBy") and isinstance(claimed, datetime) and utcnow() - claimed < timeout:
            raise conflict("The message is being sent and can no longer be cancelled")
        return await _move(app, doc, MessageStatus.CANCELLED, fields={"errorMessage": "Cancelled"})

    doc, _ = await _change(request, decide)
    return ok(present.message(doc), message="Message cancelled")

