"""Secrets: API keys hashed at rest and compared in constant time, access tokens encrypted,
nothing secret in any response or any service's log; per-key rate limiting."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
from pathlib import Path

import aiohttp
import pytest

from shared.db import Database
from shared.settings import Settings
from tests.conftest import eventually
from tests.harness import SERVICES, Stack
from tests.security.conftest import Tenant, client, wait_ready

REPO = Path(__file__).resolve().parents[2]


async def everything_stored(db: Database) -> str:
    dump = []
    for name in await db.list_collection_names():
        dump += [json.dumps(doc, default=str) async for doc in db[name].find({})]
    return "\n".join(dump)


class TestSecretsAtRest:
    """The database holds API keys only as SHA-256 and access tokens only encrypted."""

    @pytest.mark.integration
    async def test_no_plaintext_key_or_token_in_the_database(
        self, db: Database, alice: Tenant
    ) -> None:
        stored = await everything_stored(db)
        assert alice.api_key not in stored
        assert alice.access_token not in stored
        assert await db.api_keys.find_one({"_id": hashlib.sha256(
            alice.api_key.encode()).hexdigest()}) is not None

    @pytest.mark.unit
    def test_keys_and_signatures_are_compared_in_constant_time(self) -> None:
        """Review pinned: the lookup is by hash, and every secret comparison is
        ``hmac.compare_digest`` (no ``==`` on a secret)."""
        for path in ("services/api-gateway/gateway/auth.py", "shared/secrets.py",
                     "services/ingest/ingest/webhook.py"):
            source = (REPO / path).read_text()
            assert "compare_digest" in source, path
        auth = (REPO / "services/api-gateway/gateway/auth.py").read_text()
        assert "hash_api_key(key)" in auth


class TestSecretsInTransit:
    """Through a whole run — accounts created and updated with tokens, sends, inbound messages,
    statuses, bad keys, bad signatures — no response and no log line of any service carries an
    API key, an access token, the app secret or the secret key."""

    @pytest.mark.e2e
    async def test_never_in_responses_or_logs(
        self, stack: Stack, settings: Settings, db: Database, alice: Tenant,
        http: aiohttp.ClientSession,
    ) -> None:
        await asyncio.to_thread(stack.start_all)
        await wait_ready(http, settings.ingest_port)
        api = client(http, settings, alice)
        new_token = "EAAG-brand-new-token-9d8c7b6a"
        bodies = []
        status, body = await api.call("POST", "/whatsapp-accounts", json={
            "name": "second", "phoneNumberId": "1700000009", "displayPhoneNumber": "+15550000009",
            "accessToken": "EAAG-created-token-1a2b3c"})
        assert status == 201, body
        bodies.append(body)
        for call in (("PATCH", f"/whatsapp-accounts/{alice.account_id}",
                      {"json": {"accessToken": new_token}}),
                     ("GET", f"/whatsapp-accounts/{alice.account_id}", {}),
                     ("GET", "/whatsapp-accounts", {}),
                     ("POST", "/messages", {"json": {
                         "whatsappAccountId": alice.account_id, "to": "+15551230000",
                         "type": "Text", "content": "hi"}})):
            status, body = await api.call(call[0], call[1], **call[2])
            assert status < 300, body
            bodies.append(body)
        message_id = bodies[-1]["data"]["id"]

        async def read() -> bool:
            _, got = await api.call("GET", f"/messages/{message_id}")
            return got["data"]["status"] == "Read"

        await eventually(read, timeout=30, message="message read")
        async with http.post(f"http://127.0.0.1:{settings.sim_port}/_sim/inbound", json={
                "phoneNumberId": alice.phone_number_id, "from": "+15550004444",
                "text": "hello"}) as response:
            assert response.status == 200
        bad_key = "rk_" + "A" * 43
        async with http.get(settings.gateway_url + "/api/v1/messages",
                            headers={"Authorization": f"Bearer {bad_key}"}) as response:
            assert response.status == 401
        async with http.post(f"http://127.0.0.1:{settings.ingest_port}/webhooks/whatsapp",
                             data=b"{}", headers={"X-Hub-Signature-256": "sha256=00"}) as r:
            assert r.status == 401

        secrets = {"apiKey": alice.api_key, "accessToken": alice.access_token,
                   "newAccessToken": new_token, "createdToken": "EAAG-created-token-1a2b3c",
                   "appSecret": settings.whatsapp_app_secret, "secretKey": settings.secret_key,
                   "badKey": bad_key}
        answers = json.dumps(bodies)
        assert not [k for k, v in secrets.items() if v in answers]
        assert "accessToken" not in answers
        stack.stop()  # flush every log
        leaks = [f"{k} in {name}.log" for name in (*SERVICES, "sim")
                 for k, v in secrets.items() if v in stack.logs(name)]
        assert not leaks
        assert all(stack.logs(name) for name in SERVICES), "a service logged nothing at all"


class TestRateLimit:
    """Past its burst, a key gets 429 with a Retry-After in whole seconds; another key is not
    slowed by it."""

    @pytest.mark.e2e
    async def test_per_key_429_with_retry_after(
        self, settings: Settings, alice: Tenant, bob: Tenant, http: aiohttp.ClientSession,
        tmp_path: Path,
    ) -> None:
        limited = settings.model_copy(update={"api_rate_per_second": 0.5, "api_rate_burst": 5})
        stack = Stack(settings=limited, log_dir=tmp_path / "limited")
        try:
            await asyncio.to_thread(stack.start, "gateway")
            api, other = client(http, limited, alice), client(http, limited, bob)
            answers = [await api.call("GET", "/messages") for _ in range(8)]
            statuses = [status for status, _ in answers]
            assert statuses[:5] == [200] * 5, statuses
            assert statuses[5:] == [429] * 3, statuses
            async with http.get(limited.gateway_url + "/api/v1/messages",
                                headers={"Authorization": f"Bearer {alice.api_key}"}) as r:
                assert r.status == 429
                assert int(r.headers["Retry-After"]) >= 1
                body = await r.json()
            assert body["code"] == "RATE_LIMITED" and body["message"]
            status, _ = await other.call("GET", "/messages")
            assert status == 200
        finally:
            stack.stop()


class TestOutboundTimeouts:
    """Review pinned: every aiohttp session Relay opens has a timeout (a hung peer never holds
    a sender slot, a worker or a request forever)."""

    @pytest.mark.unit
    def test_every_client_session_has_a_timeout(self) -> None:
        sessions = []
        for path in [*REPO.glob("shared/*.py"), *REPO.glob("services/*/*/**/*.py")]:
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                name = getattr(node, "func", None)
                name = getattr(name, "attr", None) or getattr(name, "id", None)
                if isinstance(node, ast.Call) and name == "ClientSession":
                    has = any(k.arg == "timeout" for k in node.keywords)
                    sessions.append((str(path.relative_to(REPO)), node.lineno, has))
        assert sessions, "no aiohttp sessions found: the review looks in the wrong place"
        assert all(has for *_, has in sessions), [s for s in sessions if not s[2]]
