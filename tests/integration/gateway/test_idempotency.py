"""Idempotency-Key on POST /messages: repeats get the first answer and create nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from gateway import keys
from shared.db import Database
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration


def keyed(key: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Idempotency-Key": key}}


class TestIdempotencyKey:
    """Same key and body → same answer, one message; different body → 409."""

    async def test_repeat_returns_the_first_answer(self, api: Client, db: Database) -> None:
        body = {"whatsappAccountId": api.tenant.account_id, "to": "+15551234567",
                "type": "Text", "content": "once"}
        answers = [await api.call("POST", "/messages", json=body, **keyed("order-42"))
                   for _ in range(3)]
        assert {status for status, _ in answers} == {202}
        assert answers[0][1] == answers[1][1] == answers[2][1]
        assert await db.messages.count_documents({}) == 1

    async def test_same_key_other_body_is_409(self, api: Client, db: Database) -> None:
        base = {"whatsappAccountId": api.tenant.account_id, "to": "+15551234567",
                "type": "Text"}
        await api.call("POST", "/messages", json={**base, "content": "a"}, **keyed("k1"))
        status, body = await api.call("POST", "/messages", json={**base, "content": "b"},
                                      **keyed("k1"))
        assert status == 409 and body["code"] == "CONFLICT"
        assert "different request" in body["message"]
        assert await db.messages.count_documents({}) == 1

    async def test_keys_are_per_user(self, api: Client, api_b: Client, db: Database) -> None:
        assert (await api.call("POST", "/messages", json={
            "whatsappAccountId": api.tenant.account_id, "to": "+15551234567", "type": "Text",
            "content": "x"}, **keyed("shared")))[0] == 202
        status, _ = await api_b.call("POST", "/messages", json={
            "whatsappAccountId": api_b.tenant.account_id, "to": "+15551234567",
            "type": "Text", "content": "x"}, **keyed("shared"))
        assert status == 202
        assert await db.messages.count_documents({}) == 2

    async def test_concurrent_repeats_create_one_message(self, api: Client,
                                                         db: Database) -> None:
        body = {"whatsappAccountId": api.tenant.account_id, "to": "+15551234567",
                "type": "Text", "content": "race"}
        answers = await asyncio.gather(*(
            api.call("POST", "/messages", json=body, **keyed("race-1")) for _ in range(10)))
        statuses = [status for status, _ in answers]
        assert set(statuses) <= {202, 409} and 202 in statuses
        assert await db.messages.count_documents({}) == 1
        for status, answer in answers:
            if status == 409:
                assert "in progress" in answer["message"]

    async def test_a_refusal_is_the_first_answer(self, api: Client, db: Database) -> None:
        """A 4xx is an answer: the repeat gets it again although the account is connected
        meanwhile, and nothing is created."""
        account = api.tenant.account_id
        await db.accounts.update_one({"_id": account}, {"$set": {"status": "Disconnected"}})
        body = {"whatsappAccountId": account, "to": "+15551234567", "type": "Text",
                "content": "x"}
        first = await api.call("POST", "/messages", json=body, **keyed("refused-once"))
        assert first[0] == 400 and first[1]["code"] == "WHATSAPP_ACCOUNT_NOT_CONNECTED"
        await db.accounts.update_one({"_id": account}, {"$set": {"status": "Connected"}})
        api.http.server.app[keys.ACCEPTOR].accounts.forget(account)
        assert (await api.send())[0] == 202  # the account does accept again
        again = await api.call("POST", "/messages", json=body, **keyed("refused-once"))
        assert again == first
        assert await db.messages.count_documents({"content": "x"}) == 0

    async def test_a_refused_body_is_kept_under_its_key(self, api: Client) -> None:
        bad = {"whatsappAccountId": api.tenant.account_id, "to": "123", "type": "Text",
               "content": "x"}
        first = await api.call("POST", "/messages", json=bad, **keyed("fix-me"))
        assert first[0] == 400
        assert await api.call("POST", "/messages", json=bad, **keyed("fix-me")) == first
        fixed = {**bad, "to": "+15551234567"}
        status, answer = await api.call("POST", "/messages", json=fixed, **keyed("fix-me"))
        assert status == 409 and "different request" in answer["message"]

    async def test_records_older_than_a_day_count_as_absent(self, api: Client,
                                                            db: Database) -> None:
        body = {"whatsappAccountId": api.tenant.account_id, "to": "+15551234567",
                "type": "Text", "content": "again"}
        await api.call("POST", "/messages", json=body, **keyed("old"))
        record = await db.idempotency.find_one({})
        await db.idempotency.update_one(
            {"_id": record["_id"]},
            {"$set": {"createdAt": record["createdAt"] - timedelta(hours=25)}})
        status, _ = await api.call("POST", "/messages", json=body, **keyed("old"))
        assert status == 202
        assert await db.messages.count_documents({}) == 2

    @pytest.mark.parametrize("key", ["", "k" * 201])
    async def test_bad_keys_are_400(self, api: Client, key: str) -> None:
        status, body = await api.call(
            "POST", "/messages", json={"whatsappAccountId": api.tenant.account_id,
                                       "to": "+15551234567", "type": "Text", "content": "x"},
            **keyed(key))
        assert status == 400 and "Idempotency-Key" in body["message"]
