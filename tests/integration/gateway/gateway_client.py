"""A gateway in the test's event loop (real broker and database) and users with API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from relay.admin import create_key, create_user
from shared.broker import Broker
from shared.db import Database
from shared.settings import Settings


@asynccontextmanager
async def running_gateway(
    settings: Settings, *, db: Database, broker: Broker, **overrides: Any
) -> AsyncIterator[TestClient]:
    """The gateway app on a free port, with the test's database and broker."""
    app = create_app(settings, db=db, broker=broker, intake=False, **overrides)
    async with TestClient(TestServer(app)) as client:
        yield client


class User:
    """A user and one API key; :meth:`headers` authenticates as them."""

    def __init__(self, user_id: str, key: str) -> None:
        self.id = user_id
        self.key = key

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    @classmethod
    async def create(cls, db: Database, name: str = "tester") -> User:
        made = await create_user(db, name)
        return cls(made["userId"], made["apiKey"])

    async def key_with(self, db: Database, *scopes: str) -> User:
        """The same user through a key with only ``scopes``."""
        made = await create_key(db, self.id, list(scopes))
        return User(self.id, made["apiKey"])
