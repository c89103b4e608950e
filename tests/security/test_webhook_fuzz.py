"""hypothesis against the webhook: correctly signed random payloads, Meta-shaped and not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import aiohttp
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ingest.parse import PayloadError, parse_payload
from shared import topology
from shared.db import Database
from shared.secrets import signature
from shared.settings import Settings
from tests.conftest import eventually
from tests.harness import Stack
from tests.security.conftest import Tenant, wait_ready

PAYLOADS = 2000

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(),
                    st.text(max_size=30))
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the well-formed value, sometimes anything at all in its place."""
    return st.one_of(strategy, strategy, strategy, anything)


def webhook(pnid: str) -> st.SearchStrategy[Any]:
    """Payloads shaped like Meta's, every part of which may be wrong."""
    timestamp = maybe(st.integers(-10, 2**40).map(str))
    wamid = maybe(st.text(min_size=1, max_size=40).map(lambda t: f"wamid.{t}"))
    kinds = st.sampled_from(["text", "image", "video", "audio", "document", "sticker",
                             "location", "reaction", "unsupported", "button", "interactive"])
    message = st.fixed_dictionaries({
        "from": maybe(st.from_regex(r"\A[0-9]{5,15}\Z")), "id": wamid, "timestamp": timestamp,
        "type": maybe(kinds),
    }, optional={"text": maybe(st.fixed_dictionaries({"body": maybe(st.text(max_size=5000))})),
                 "image": maybe(st.fixed_dictionaries({"id": maybe(st.text(max_size=20)),
                                                       "mime_type": maybe(st.text())})),
                 "context": anything})
    status = st.fixed_dictionaries({
        "id": wamid, "status": maybe(st.sampled_from(["sent", "delivered", "read", "failed",
                                                      "deleted", "warning"])),
        "timestamp": timestamp, "recipient_id": maybe(st.text(max_size=15)),
    }, optional={"errors": anything, "biz_opaque_callback_data": anything})
    value = st.fixed_dictionaries({
        "messaging_product": maybe(st.just("whatsapp")),
        "metadata": maybe(st.fixed_dictionaries({
            "phone_number_id": maybe(st.just(pnid)), "display_phone_number": anything})),
    }, optional={
        "contacts": maybe(st.lists(st.fixed_dictionaries({
            "wa_id": anything, "profile": maybe(st.fixed_dictionaries({"name": anything}))}),
            max_size=2)),
        "messages": maybe(st.lists(maybe(message), max_size=3)),
        "statuses": maybe(st.lists(maybe(status), max_size=3)),
        "errors": anything,
    })
    change = st.fixed_dictionaries({"field": maybe(st.just("messages")), "value": maybe(value)})
    entry = st.fixed_dictionaries({"id": anything, "changes": maybe(st.lists(maybe(change),
                                                                             max_size=2))})
    return st.one_of(
        st.fixed_dictionaries({"object": maybe(st.just("whatsapp_business_account")),
                               "entry": maybe(st.lists(maybe(entry), max_size=2))}),
        anything,
    )


def generate(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    found: list[Any] = []

    @hsettings(max_examples=count, database=None, deadline=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


class TestParserFuzz:
    """The parser turns any JSON value into items or a PayloadError, never anything else."""

    @hsettings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(webhook("1700000001"))
    def test_parser_never_raises_anything_else(self, payload: Any) -> None:
        try:
            items = parse_payload(payload)
        except PayloadError:
            return
        assert isinstance(items, list)


async def queue_depth(amqp_url: str, name: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        queue = await (await connection.channel()).declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


class TestWebhookFuzz:
    """2,000 correctly signed random payloads at a live ingest: never a 5xx, the worker never
    dies (what it cannot read goes to the dead-letter queue), and afterwards a real inbound
    message is still applied."""

    @pytest.mark.e2e
    async def test_signed_random_payloads(
        self, stack: Stack, settings: Settings, db: Database, alice: Tenant,
        http: aiohttp.ClientSession,
    ) -> None:
        await asyncio.to_thread(stack.start, "sim")
        await asyncio.to_thread(stack.start, "ingest")
        await wait_ready(http, settings.ingest_port)
        async with http.post(f"http://127.0.0.1:{settings.sim_port}/_sim/config",
                             json={"autoStatuses": False}) as response:
            assert response.status == 200
        payloads = generate(webhook(alice.phone_number_id), PAYLOADS)
        url = f"http://127.0.0.1:{settings.ingest_port}/webhooks/whatsapp"
        gate = asyncio.Semaphore(16)

        async def post(payload: Any) -> tuple[int, Any]:
            raw = json.dumps(payload).encode()
            headers = {"X-Hub-Signature-256": signature(settings.whatsapp_app_secret, raw),
                       "Content-Type": "application/json"}
            async with gate, http.post(url, data=raw, headers=headers) as response:
                return response.status, payload

        answers = await asyncio.gather(*(post(p) for p in payloads))

        server_errors = [(s, p) for s, p in answers if s >= 500]
        assert len(answers) >= PAYLOADS
        assert not server_errors, server_errors[:5]
        assert {s for s, _ in answers} <= {200, 400}

        async def inbox_drained() -> bool:
            return await queue_depth(settings.amqp_url, topology.INBOX_QUEUE) == 0

        await eventually(inbox_drained, timeout=120, interval=0.5, message="inbox drained")
        assert stack.processes["ingest"].poll() is None, "the ingest process died"
        assert await queue_depth(settings.amqp_url, topology.DEAD_QUEUE) > 0, "no poison parked"
        await self.still_applies_inbound(http, settings, db, alice)

    async def still_applies_inbound(self, http: aiohttp.ClientSession, settings: Settings,
                                    db: Database, tenant: Tenant) -> None:
        async with http.post(f"http://127.0.0.1:{settings.sim_port}/_sim/inbound", json={
            "phoneNumberId": tenant.phone_number_id, "from": "+15557654321",
            "type": "text", "text": "still here"}) as response:
            injected = await response.json()
        assert injected["ingestStatus"] == 200

        async def stored() -> dict[str, Any] | None:
            return await db.messages.find_one({"whatsappMessageId": injected["wamid"]})

        doc = await eventually(stored, timeout=30, message="inbound stored after the fuzzing")
        assert doc["content"] == "still here"
