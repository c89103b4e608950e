"""End-to-end fixtures: every service as its own OS process, with the simulator."""

from __future__ import annotations

import aiohttp
import pytest

from relay import admin
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings
from tests.harness import Api


@pytest.fixture
async def tenant(db: Database, settings: Settings) -> dict[str, str]:
    """A user with an all-scope key and a connected account."""
    user = await admin.create_user(db, "e2e")
    account = await admin.create_account(
        db, TokenCipher(settings.secret_key), user_id=user["userId"], name="e2e",
        phone_number_id="1065403522", display_phone_number="+15550783881",
        access_token="e2e-token", rate_per_minute=600, enforce_customer_window=False,
    )
    return {**user, "accountId": account["_id"]}


@pytest.fixture
def api(http: aiohttp.ClientSession, settings: Settings, tenant: dict[str, str]) -> Api:
    return Api(http, settings.gateway_url, tenant["apiKey"])
