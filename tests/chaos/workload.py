"""The fault suite's mixed workload: what a busy tenant and its customers do to Relay.

Sends (text, and images by ``mediaId`` after an upload) through the API, scheduled sends,
inbound messages through the simulator (some injected twice with the same ``wamid``), and
status webhooks replayed out of order and twice. Every API call is made as a careful client
makes it: with an ``Idempotency-Key``, retried with the same key while the gateway is down or
answers 503, so that a crash between the work and the answer never makes a second message.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from tests.media_samples import png

PNG = png()

RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
IN_PROGRESS_PATIENCE = 8.0


@dataclass
class Tenant:
    user_id: str
    api_key: str
    accounts: dict[str, dict[str, Any]]  # accountId -> account document (as stored)


@dataclass
class Ledger:
    """What the workload was told: the basis of the invariant checks."""

    accepted: dict[str, str] = field(default_factory=dict)  # messageId -> idempotency key
    refused: dict[str, int] = field(default_factory=dict)  # reason code -> count
    unanswered: int = 0  # requests that never got a final answer (counted, not lost)
    scheduled: set[str] = field(default_factory=set)
    media_sends: set[str] = field(default_factory=set)
    inbound_wamids: set[str] = field(default_factory=set)
    inbound_injections: int = 0
    status_replays: int = 0
    answers_5xx: dict[int, int] = field(default_factory=dict)  # 503 expected in outages; 500 not


class Workload:
    """Drives traffic against a running stack; records every answer in :attr:`ledger`."""

    def __init__(self, http: aiohttp.ClientSession, *, gateway: str, sim: str, tenant: Tenant,
                 seed: int = 9) -> None:
        self.http = http
        self.api = gateway.rstrip("/") + "/api/v1"
        self.sim = sim.rstrip("/")
        self.tenant = tenant
        self.ledger = Ledger()
        self.rng = random.Random(seed)
        self._media_id: str | None = None
        self._counter = itertools.count()

    # -- the API, as a careful client calls it ------------------------------------------------
    async def call(self, method: str, path: str, *, patience: float = 45.0,
                   **kwargs: Any) -> tuple[int | None, dict[str, Any]]:
        """Call until a final answer (not a connection error, 5xx, 409-in-progress or 429).

        A 409 "in progress" means the first try died inside a gateway that was killed; its
        record goes stale only after minutes, so the client gives up on it after a while (the
        message, if one was stored, is still checked by the invariants).
        """
        headers = {"Authorization": f"Bearer {self.tenant.api_key}", **kwargs.pop("headers", {})}
        deadline = time.monotonic() + patience
        in_progress_since: float | None = None
        status, body = None, {}
        while time.monotonic() < deadline:
            try:
                async with self.http.request(method, self.api + path, headers=headers,
                                             **kwargs) as response:
                    status = response.status
                    body = await response.json(content_type=None) or {}
            except (aiohttp.ClientError, TimeoutError, ValueError):
                status, body = None, {}
            if status is not None and status >= 500:
                self.ledger.answers_5xx[status] = self.ledger.answers_5xx.get(status, 0) + 1
            if status is not None and status not in RETRYABLE_STATUSES:
                return status, body
            if status == 409:
                in_progress_since = in_progress_since or time.monotonic()
                if time.monotonic() - in_progress_since > IN_PROGRESS_PATIENCE:
                    return None, body
            await asyncio.sleep(0.3)
        return status, body

    async def upload_image(self) -> str:
        if self._media_id is None:
            form = aiohttp.FormData()
            form.add_field("file", PNG, filename="chaos.png", content_type="image/png")
            status, body = await self.call("POST", "/media", data=form,
                                           headers={"Idempotency-Key": "chaos-media"})
            assert status == 201, (status, body)
            self._media_id = body["data"]["id"]
        return self._media_id

    async def send(self, account_id: str, *, media: bool = False, scheduled: bool = False) -> None:
        n = next(self._counter)
        key = f"chaos-{n}-{uuid.uuid4().hex[:8]}"
        body: dict[str, Any] = {"whatsappAccountId": account_id,
                                "to": f"+1555{self.rng.randrange(10**6, 10**7)}"}
        if media:
            body.update(type="Image", mediaId=await self.upload_image(), content=f"pic {n}")
        else:
            body.update(type="Text", content=f"chaos message {n} ✓ مرحبا")
        if scheduled:
            when = datetime.now(UTC) + timedelta(seconds=self.rng.uniform(2.0, 5.0))
            body["scheduledFor"] = when.isoformat()
        # Re-sent with the same key and body on every retry, as the contract asks.
        status, answer = await self.call("POST", "/messages", json=body,
                                         headers={"Idempotency-Key": key})
        if status == 202:
            message_id = answer["data"]["id"]
            self.ledger.accepted[message_id] = key
            if scheduled:
                self.ledger.scheduled.add(message_id)
            if media:
                self.ledger.media_sends.add(message_id)
        elif status is None:
            self.ledger.unanswered += 1
        else:
            code = str(answer.get("code") or status)
            self.ledger.refused[code] = self.ledger.refused.get(code, 0) + 1

    # -- the simulator's side: customers writing in, Meta replaying statuses ------------------
    async def sim_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.sim + path, json=body) as response:
            assert response.status == 200, (path, response.status, await response.text())
            return dict(await response.json())

    async def inbound(self, account: dict[str, Any], *, duplicate: bool, media: bool) -> None:
        sender = f"+1444{self.rng.randrange(10**6, 10**7)}"
        body: dict[str, Any] = {"phoneNumberId": account["phoneNumberId"], "from": sender,
                                "name": "Zoë 👩🏽‍💻 שלום", "type": "text", "text": "hello ‍ there"}
        if media:
            body.update(type="image", mediaBase64=base64.b64encode(PNG).decode(),
                        mimeType="image/png", caption="look")
        answer = await self.sim_post("/_sim/inbound", body)
        self.ledger.inbound_wamids.add(answer["wamid"])
        self.ledger.inbound_injections += 1
        if duplicate:
            await self.sim_post("/_sim/inbound", {**body, "wamid": answer["wamid"]})
            self.ledger.inbound_injections += 1

    async def replay_statuses(self, count: int) -> None:
        """Post statuses of recorded sends backwards and twice (read, delivered, sent, read)."""
        async with self.http.get(self.sim + "/_sim/sends") as response:
            sends = (await response.json())["sends"]
        for send in self.rng.sample(sends, min(count, len(sends))):
            for status in ("read", "delivered", "sent", "read", "failed"):
                await self.sim_post("/_sim/status", {"wamid": send["wamid"], "status": status})
                self.ledger.status_replays += 1

    async def burst(self, sends: int) -> None:
        """One round of everything at once."""
        accounts = list(self.tenant.accounts)
        jobs = [self.send(self.rng.choice(accounts)) for _ in range(sends)]
        jobs += [self.send(accounts[0], media=True), self.send(accounts[0], scheduled=True)]
        first = self.tenant.accounts[accounts[0]]
        jobs += [self.inbound(first, duplicate=True, media=False),
                 self.inbound(first, duplicate=False, media=self.rng.random() < 0.5)]
        jobs.append(self.replay_statuses(2))
        await asyncio.gather(*jobs)
