"""Gateway tests with bare users (a user and an API key, no account): the gateway in the test's
event loop with its own broker, and ``alice`` and ``bob`` as :class:`User` in place of the
parent folder's tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from shared.broker import Broker
from shared.db import Database
from shared.settings import Settings
from tests.integration.gateway.gateway_client import User, running_gateway


@pytest.fixture
async def client(settings: Settings, db: Database, broker: Broker) -> AsyncIterator[TestClient]:
    async with running_gateway(settings, db=db, broker=broker) as test_client:
        yield test_client


@pytest.fixture
async def alice(db: Database) -> User:
    return await User.create(db, "alice")


@pytest.fixture
async def bob(db: Database) -> User:
    return await User.create(db, "bob")
