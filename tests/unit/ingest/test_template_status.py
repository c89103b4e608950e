"""``message_template_status_update`` webhooks: parsed from the change's ``field``, applied to
every stored copy of the template, unknown templates and events skipped with a log line."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.context import Context
from ingest.handlers import templates
from ingest.metrics import IngestMetrics
from ingest.parse import Malformed, TemplateStatusChange, parse_payload
from shared.templates import Template, TemplateStatus, template_id
from tests.unit.fakes import FakeTemplateStore

pytestmark = pytest.mark.unit


def payload(value: dict[str, Any], *, waba: str = "waba-1") -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{
        "id": waba, "time": 1700000000,
        "changes": [{"field": "message_template_status_update", "value": value}]}]}


def update(event: str, **extra: Any) -> dict[str, Any]:
    return {"event": event, "message_template_id": 777, "message_template_name": "hello",
            "message_template_language": "en_US", "reason": "NONE", **extra}


def stored(account: str, *, meta_id: str | None = "777", waba: str = "waba-1") -> Template:
    return Template(_id=template_id(account, "hello", "en_US"), whatsapp_account_id=account,
                    user_id="u", meta_id=meta_id, waba_id=waba, name="hello", language="en_US",
                    category="UTILITY", status=TemplateStatus.PENDING)


def context(store: FakeTemplateStore) -> tuple[Context, CollectorRegistry]:
    registry = CollectorRegistry()
    ctx = Context(db=None, messages=None, outbox=None,  # type: ignore[arg-type]
                  metrics=IngestMetrics.create(registry), media=None,  # type: ignore[arg-type]
                  retry_later=None, retry_message=None,  # type: ignore[arg-type]
                  templates=store)
    return ctx, registry


async def apply(store: FakeTemplateStore, body: dict[str, Any]) -> CollectorRegistry:
    items = parse_payload(body)
    ctx, registry = context(store)
    await templates.apply([i for i in items if isinstance(i, TemplateStatusChange)], ctx)
    return registry


def outcome(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value("relay_webhook_events_total",
                                     {"kind": "template_status", "outcome": name}) or 0.0


class TestParse:
    """The change's ``field`` tells a template status from a messages change."""

    def test_fields(self) -> None:
        [item] = parse_payload(payload(update("rejected", reason="INVALID_FORMAT")))
        assert item == TemplateStatusChange(waba_id="waba-1", event="REJECTED", meta_id="777",
                                             name="hello", language="en_US",
                                             reason="INVALID_FORMAT")

    def test_without_event_or_template_it_is_malformed(self) -> None:
        [item] = parse_payload(payload({"message_template_name": "hello"}))
        assert isinstance(item, Malformed) and item.item_kind == "template_status"


class TestApply:
    """Every account's copy moves; a rejection keeps Meta's reason."""

    async def test_approval_moves_every_copy(self) -> None:
        store = FakeTemplateStore(stored("a1"), stored("a2"))
        registry = await apply(store, payload(update("APPROVED")))
        assert {t.status for t in store.docs.values()} == {TemplateStatus.APPROVED}
        assert outcome(registry, "applied") == 1

    async def test_rejection_keeps_the_reason(self) -> None:
        store = FakeTemplateStore(stored("a1"))
        await apply(store, payload(update("REJECTED", reason="TAG_CONTENT_MISMATCH")))
        [got] = store.docs.values()
        assert (got.status, got.rejected_reason) == (TemplateStatus.REJECTED,
                                                     "TAG_CONTENT_MISMATCH")

    async def test_found_by_name_before_metas_id_is_known(self) -> None:
        store = FakeTemplateStore(stored("a1", meta_id=None))
        await apply(store, payload(update("APPROVED")))
        assert store.docs[template_id("a1", "hello", "en_US")].status == TemplateStatus.APPROVED

    async def test_another_wabas_template_of_that_name_is_untouched(self) -> None:
        store = FakeTemplateStore(stored("a1", meta_id=None, waba="other"))
        registry = await apply(store, payload(update("APPROVED")))
        assert store.docs[template_id("a1", "hello", "en_US")].status == TemplateStatus.PENDING
        assert outcome(registry, "unknown_template") == 1

    async def test_a_quality_flag_changes_nothing(self) -> None:
        store = FakeTemplateStore(stored("a1"))
        registry = await apply(store, payload(update("FLAGGED")))
        assert store.docs[template_id("a1", "hello", "en_US")].status == TemplateStatus.PENDING
        assert outcome(registry, "ignored") == 1
