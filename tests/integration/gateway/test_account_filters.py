"""An account id that is not the caller's answers 404 wherever it is a filter, the same in the
lists as in the statistics (never an empty 200)."""

from __future__ import annotations

import pytest

from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration

FILTERED = ("/messages", "/contacts", "/messages/statistics")


class TestAccountFilter:
    @pytest.mark.parametrize("path", FILTERED)
    async def test_another_users_account_is_404(self, api: Client, api_b: Client,
                                                path: str) -> None:
        assert (await api_b.send())[0] == 202  # bob has a message, a contact and statistics
        for account in (api_b.tenant.account_id, "no-such-account"):
            status, body = await api.call("GET", f"{path}?whatsappAccountId={account}")
            assert status == 404 and body["code"] == "NOT_FOUND", (path, account, body)
            assert body["message"] == "WhatsApp account not found"

    @pytest.mark.parametrize("path", FILTERED)
    async def test_ones_own_account_is_200(self, api: Client, path: str) -> None:
        status, body = await api.call("GET", f"{path}?whatsappAccountId={api.tenant.account_id}")
        assert status == 200, body
