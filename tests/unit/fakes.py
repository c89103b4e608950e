"""In-memory fakes of Relay's shared ports, with the MongoDB adapters' semantics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from shared.messages import (
    CLAIM_FIELDS,
    Message,
    VersionConflict,
    applied,
    as_datetime,
    epoch_ms,
    searchable,
    transition_change,
)
from shared.models import MessageStatus
from shared.search import search_text
from shared.templates import (
    SyncCounts,
    Template,
    TemplateStatus,
    plan_sync,
    template_id,
)


class FakeMessageStore:
    """:class:`shared.messages.MessageStore` in a dict; ``writes`` counts document writes."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def put(self, message: Message) -> Message:
        """Store ``message`` as it is (a test's arrangement, not counted)."""
        self.docs[message.id] = message.to_doc()
        return message

    def __getitem__(self, message_id: str) -> Message:
        return Message.from_doc(self.docs[message_id])

    async def add(self, message: Message, *, contact_name: str | None = None) -> None:
        if message.id in self.docs:
            raise DuplicateKeyError(f"duplicate _id {message.id}")
        self.writes += 1
        self.docs[message.id] = searchable(message, contact_name).to_doc()

    async def rename_contact(self, user_id: str, contact_id: str, name: str | None) -> int:
        mine = [doc for doc in self.docs.values()
                if doc["userId"] == user_id and doc.get("contactId") == contact_id]
        for doc in mine:
            doc["searchText"] = search_text(doc.get("content"), name,
                                            doc.get("to") or doc.get("from"))
        return len(mine)

    async def get(self, message_id: str) -> Message | None:
        doc = self.docs.get(message_id)
        return Message.from_doc(doc) if doc is not None else None

    async def claim(
        self, message_id: str, *, owner: str, now: float, lease_seconds: float
    ) -> Message | None:
        doc = self.docs.get(message_id)
        if doc is None or doc["status"] != MessageStatus.QUEUED:
            return None
        if (doc.get("claimUntil") or 0) >= epoch_ms(now):
            return None
        self.writes += 1
        doc.update(claimedBy=owner, claimedAt=as_datetime(now), claimToken="t",
                   claimUntil=epoch_ms(now + lease_seconds), attempts=doc["attempts"] + 1)
        return Message.from_doc(doc)

    async def move(
        self, message: Message, target: MessageStatus, *, fields: Mapping[str, Any] | None = None,
        retry: bool = False, drop_claim: bool = False,
    ) -> Message | None:
        changes = transition_change(message, target, fields=fields, retry=retry)
        if changes is None:
            return None
        stored = self.docs.get(message.id)
        if stored is None or stored["version"] != message.version:
            raise VersionConflict(message.id)
        self.writes += 1
        moved = applied(Message.from_doc(stored), changes, CLAIM_FIELDS if drop_claim else ())
        self.docs[message.id] = moved.to_doc()
        return moved

    async def release(
        self, message: Message, *, owner: str, reason: str, at: datetime,
        unit_day: str | None = None,
    ) -> None:
        doc = self.docs.get(message.id)
        if doc is None or doc.get("claimedBy") != owner or doc["status"] != MessageStatus.QUEUED:
            return
        self.writes += 1
        for field in ("claimedBy", "claimedAt", "claimToken"):
            doc.pop(field, None)
        doc.update(lastError=reason, attemptedAt=at, attemptedMs=epoch_ms(at), claimUntil=0)
        if unit_day:
            doc["unitDay"] = unit_day

    async def annotate(
        self, message_id: str, fields: Mapping[str, Any], *, drop_claim: bool = False
    ) -> Message | None:
        doc = self.docs.get(message_id)
        if doc is None:
            return None
        before = Message.from_doc(doc)
        self.writes += 1
        doc.update(fields)
        for field in CLAIM_FIELDS if drop_claim else ():
            doc.pop(field, None)
        return before

    async def stamp(self, message: Message, field: str, when: datetime) -> Message:
        stored = self.docs.get(message.id)
        if stored is None or stored["version"] != message.version:
            raise VersionConflict(message.id)
        self.writes += 1
        stored[field] = when
        return applied(message, {field: when})

    async def fill(self, message_id: str, field: str, when: datetime) -> bool:
        doc = self.docs.get(message_id)
        if doc is None or doc.get(field) is not None:
            return False
        self.writes += 1
        doc[field] = when
        return True

    async def mark(self, message_ids: list[str], fields: Mapping[str, Any]) -> None:
        for message_id in message_ids:
            if message_id in self.docs:
                self.docs[message_id].update(fields)
        self.writes += len([i for i in message_ids if i in self.docs])

    async def by_wamid(self, wamids: list[str]) -> dict[str, Message]:
        return {doc["whatsappMessageId"]: Message.from_doc(doc) for doc in self.docs.values()
                if doc.get("whatsappMessageId") in wamids}

    async def recent_attempts(self, account_id: str, *, now: float, window: float) -> list[float]:
        times: list[float] = []
        for doc in self.docs.values():
            if doc["whatsappAccountId"] != account_id:
                continue
            if (doc.get("attemptedMs") or 0) > epoch_ms(now - window):
                times += [doc["attemptedMs"] / 1000 + 0.001] * max(1, doc["attempts"])
            if doc["status"] == MessageStatus.QUEUED and (doc.get("claimUntil") or 0) > now * 1000:
                times.append(now)
        return times


class FakeDailySends:
    """:class:`sender.ports.DailySendsPort` in a dict ``(account, day) -> units``; ``taken``
    lists every unit granted, ``given_back`` every one returned."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.taken: list[tuple[str, str]] = []
        self.given_back: list[tuple[str, str]] = []

    async def take(self, account_id: str, day: str, limit: int) -> bool:
        if self.counts.get((account_id, day), 0) >= limit:
            return False
        self.counts[(account_id, day)] = self.counts.get((account_id, day), 0) + 1
        self.taken.append((account_id, day))
        return True

    async def give_back(self, account_id: str, day: str) -> None:
        if self.counts.get((account_id, day), 0) > 0:
            self.counts[(account_id, day)] -= 1
            self.given_back.append((account_id, day))


class FakeTemplateStore:
    """:class:`shared.templates.TemplateStore` in a dict by template id; ``reads`` counts
    ``find`` calls (what a cache in front of it saves)."""

    def __init__(self, *templates: Template) -> None:
        self.docs: dict[str, Template] = {t.id: t for t in templates}
        self.reads = 0

    async def find(self, account_id: str, name: str, language: str) -> Template | None:
        self.reads += 1
        return self.docs.get(template_id(account_id, name, language))

    async def page(self, account_id: str, *, page: int, limit: int) -> tuple[list[Template], int]:
        mine = sorted((t for t in self.docs.values() if t.whatsapp_account_id == account_id),
                      key=lambda t: (t.name, t.language))
        return mine[(page - 1) * limit:page * limit], len(mine)

    async def sync(self, account_id: str, fetched: Sequence[Template]) -> SyncCounts:
        stored = [t for t in self.docs.values() if t.whatsapp_account_id == account_id]
        plan = plan_sync(stored, fetched)
        for template in plan.added + plan.updated:
            self.docs[template.id] = template
        for gone in plan.removed:
            del self.docs[gone]
        return plan.counts

    async def add(self, template: Template) -> bool:
        if template.id in self.docs:
            return False
        self.docs[template.id] = template
        return True

    async def discard(self, template_id: str) -> None:
        self.docs.pop(template_id, None)

    async def set_meta_id(self, template_id: str, meta_id: str) -> Template | None:
        if template_id not in self.docs:
            return None
        self.docs[template_id] = self.docs[template_id].model_copy(update={"meta_id": meta_id})
        return self.docs[template_id]

    async def set_status(
        self, meta_id: str, status: TemplateStatus, reason: str | None = None
    ) -> int:
        return self._move([t for t in self.docs.values() if t.meta_id == meta_id], status, reason)

    async def set_status_by_name(
        self, waba_id: str, name: str, language: str, status: TemplateStatus,
        reason: str | None = None,
    ) -> int:
        return self._move([t for t in self.docs.values() if (t.waba_id, t.name, t.language)
                           == (waba_id, name, language)], status, reason)

    def _move(self, found: list[Template], status: TemplateStatus, reason: str | None) -> int:
        for template in found:
            self.docs[template.id] = template.model_copy(
                update={"status": status, "rejected_reason": reason})
        return len(found)


class FakeMessageSource:
    """:class:`gateway.export.MessageSource` over a list: plain equalities of ``where`` apply;
    ``batches_read`` counts the batches handed out."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.batches_read = 0

    def _matching(self, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        plain = {k: v for k, v in where.items() if not isinstance(v, dict)}
        found = [d for d in self.docs if all(d.get(k) == v for k, v in plain.items())]
        return sorted(found, key=lambda d: (d.get("createdMs") or 0, d["_id"]), reverse=True)

    async def newest_first(self, where: dict[str, Any],
                           batch: int) -> AsyncIterator[list[dict[str, Any]]]:
        found = self._matching(where)
        for start in range(0, len(found), batch):
            self.batches_read += 1
            yield found[start:start + batch]

    async def count_upto(self, where: dict[str, Any], cap: int) -> int:
        return min(cap, len(self._matching(where)))
