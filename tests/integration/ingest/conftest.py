"""The ingest app and its worker in-process, against the real RabbitMQ and the embedded DB."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ingest.app import create_app
from ingest.keys import REGISTRY
from relay.admin import create_account, create_user
from shared.cloudapi import CloudApiError
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from tests import ingest_payloads as p
from tests.conftest import eventually


@dataclass
class FakeMediaSource:
    """An in-memory stand-in for the Cloud API's media endpoints (ingest's MediaSource port)."""

    files: dict[str, bytes] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    unreachable_times: int = 0  # the next n resolves fail as if the Cloud API were away

    async def resolve_media(self, media_id: str, token: str) -> dict[str, Any]:
        self.tokens.append(token)
        if self.unreachable_times > 0:
            self.unreachable_times -= 1
            raise CloudApiError("Cloud API unreachable: ClientConnectorError")
        if media_id not in self.files:
            raise CloudApiError("(100) Invalid media id", code=100, http_status=400)
        data = self.files[media_id]
        return {"url": f"https://lookaside.example/{media_id}", "mime_type": "x/y",
                "sha256": hashlib.sha256(data).hexdigest(), "file_size": str(len(data)),
                "id": media_id}

    async def download(self, url: str, token: str, *, max_bytes: int) -> bytes:
        return self.files[url.rsplit("/", 1)[1]]


@dataclass
class Ingest:
    """A running ingest app: post signed webhooks, read its metrics."""

    app: web.Application
    url: str
    session: aiohttp.ClientSession
    settings: Settings
    media: FakeMediaSource

    async def post(self, payload: dict[str, Any] | bytes, *, secret: str | None = None,
                   headers: dict[str, str] | None = None) -> int:
        raw, signed = p.signed(payload, secret or self.settings.whatsapp_app_secret)
        async with self.session.post(self.url, data=raw,
                                     headers=signed if headers is None else headers) as response:
            return response.status

    def metric(self, name: str, **labels: str) -> float:
        return self.app[REGISTRY].get_sample_value(name, labels) or 0.0

    def events(self, kind: str, outcome: str) -> float:
        return self.metric("relay_webhook_events_total", kind=kind, outcome=outcome)

    async def until_events(self, kind: str, outcome: str, at_least: float) -> None:
        async def reached() -> bool:
            return self.events(kind, outcome) >= at_least

        await eventually(reached, timeout=20, message=f"{kind}/{outcome} >= {at_least}")


IngestFactory = Callable[..., Any]


@pytest.fixture
async def start_ingest(settings: Settings, db: Database) -> AsyncIterator[IngestFactory]:
    """Start an ingest app (``create_app`` overrides as keywords); stopped after the test."""
    runners: list[web.AppRunner] = []
    session = aiohttp.ClientSession()

    async def start(app_settings: Settings | None = None, **overrides: Any) -> Ingest:
        use = app_settings or settings
        media = overrides.pop("media", None) or FakeMediaSource()
        overrides.setdefault("cloud", media)
        app = create_app(use, **overrides)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", use.ingest_port).start()
        runners.append(runner)
        url = f"http://127.0.0.1:{use.ingest_port}/webhooks/whatsapp"
        return Ingest(app, url, session, use, media)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()
    await session.close()


@pytest.fixture
async def ingest(start_ingest: IngestFactory) -> Ingest:
    """A ready ingest (broker connected, inbox consumed)."""
    running: Ingest = await start_ingest()
    await until_ready(running)
    return running


async def until_ready(running: Ingest) -> None:
    ready = running.url.replace("/webhooks/whatsapp", "/health/ready")

    async def answers() -> bool:
        async with running.session.get(ready) as response:
            return response.status == 200

    await eventually(answers, timeout=20, message="ingest ready")


@dataclass(frozen=True)
class Account:
    id: str
    user_id: str
    phone_number_id: str
    token: str


@pytest.fixture
async def accounts(db: Database, settings: Settings) -> list[Account]:
    """Three connected accounts of two users."""
    cipher = TokenCipher(settings.secret_key)
    users = [(await create_user(db, name))["userId"] for name in ("alice", "bob")]
    made = []
    for n, user_id in enumerate([users[0], users[0], users[1]]):
        token = f"token-{n}"
        doc = await create_account(
            db, cipher, user_id=user_id, name=f"acct-{n}", phone_number_id=f"10654035224292{n}",
            display_phone_number=f"+1555078388{n}", access_token=token,
            enforce_customer_window=False,
        )
        made.append(Account(doc["_id"], user_id, doc["phoneNumberId"], token))
    return made


async def outbound(db: Database, account: Account, *, status: str = "Sent",
                   wamid: str | None = None) -> dict[str, Any]:
    """An outbound message as the sender leaves it after the Cloud API accepted it."""
    now = datetime.now(UTC).replace(microsecond=0)
    doc = {
        "_id": f"msg-{p.wamid()[-12:]}", "userId": account.user_id,
        "whatsappAccountId": account.id, "contactId": "contact-x", "direction": "Outbound",
        "type": "Text", "content": "hi", "to": "+16505551234", "status": status,
        "previousStatus": "Queued", "version": 2, "whatsappMessageId": wamid or p.wamid(),
        "sentAt": None, "deliveredAt": None, "readAt": None, "errorMessage": None,
        "attempts": 1, "createdAt": now, "updatedAt": now, "statusChangedAt": now,
    }
    await db.messages.insert_one(doc)
    return doc


def as_instant(value: Any) -> datetime | None:
    """A stored timestamp as aware UTC; nx-27017 returns $set dates as strings (DEVIATIONS)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
