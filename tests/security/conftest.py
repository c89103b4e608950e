"""Fixtures of the hostile-input and security suite: live services as OS processes (the
simulator answers the Cloud API), two tenants with an account each, and a JSON client."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import pytest

from relay import admin
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from tests.harness import Api


@dataclass
class Tenant:
    user_id: str
    api_key: str
    account_id: str
    phone_number_id: str
    access_token: str


async def make_tenant(db: Database, settings: Settings, name: str, pnid: str) -> Tenant:
    user = await admin.create_user(db, name)
    token = f"token-{name}-{pnid}-s3cr3t"
    account = await admin.create_account(
        db, TokenCipher(settings.secret_key), user_id=user["userId"], name=name,
        phone_number_id=pnid, display_phone_number=f"+1555{pnid[-7:]}", access_token=token,
        rate_per_minute=600, enforce_customer_window=False,
    )
    return Tenant(user["userId"], user["apiKey"], account["_id"], pnid, token)


@pytest.fixture
async def alice(db: Database, settings: Settings) -> Tenant:
    return await make_tenant(db, settings, "alice", "1700000001")


@pytest.fixture
async def bob(db: Database, settings: Settings) -> Tenant:
    return await make_tenant(db, settings, "bob", "1700000002")


def client(http: aiohttp.ClientSession, settings: Settings, tenant: Tenant) -> Api:
    return Api(http, settings.gateway_url, tenant.api_key)


async def wait_ready(http: aiohttp.ClientSession, port: int) -> None:
    """Until the service on ``port`` answers ``/health/ready`` with 200 (its broker is up)."""
    from tests.conftest import eventually

    async def ready() -> bool:
        async with http.get(f"http://127.0.0.1:{port}/health/ready") as response:
            return response.status == 200

    await eventually(ready, timeout=30, message=f"port {port} ready")
