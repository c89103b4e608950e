"""The control API: duplicates, reordering, explicit statuses, raw webhooks, reset, bad bodies."""

from __future__ import annotations

import pytest

from shared.secrets import signature_valid
from tests.conftest import eventually
from tests.integration.simulator.conftest import SECRET, Sim

pytestmark = pytest.mark.integration
TEXT = {"to": "15551234567", "type": "text", "text": {"body": "hi"}}


async def _wamid(sim: Sim, **extra: str) -> str:
    response = await sim.send({**TEXT, **extra})
    assert response.status == 200
    return str((await response.json())["messages"][0]["id"])


async def _statuses(sim: Sim, count: int) -> list[str]:
    async def enough() -> list[str]:
        found = [s["status"] for s in sim.receiver.statuses()]
        return found if len(found) >= count else []

    return list(await eventually(enough, message=f"{count} statuses"))


class TestStatusShaping:
    """``duplicateStatuses`` posts each status twice; ``reorderStatuses`` posts read first."""

    async def test_pending_webhooks_fall_to_zero_once_posted(self, sim: Sim) -> None:
        await _wamid(sim)
        assert (await sim.control("GET", "webhooks/pending"))["pending"] >= 1  # on their way
        await _statuses(sim, 3)

        async def quiet() -> bool:
            return (await sim.control("GET", "webhooks/pending"))["pending"] == 0
        await eventually(quiet, message="every webhook posted")

    async def test_duplicates(self, sim: Sim) -> None:
        await sim.control("POST", "config", {"duplicateStatuses": True})
        await _wamid(sim)
        assert await _statuses(sim, 6) == ["sent", "sent", "delivered", "delivered",
                                           "read", "read"]

    async def test_reordered(self, sim: Sim) -> None:
        config = await sim.control("POST", "config", {"reorderStatuses": True})
        assert config["reorderStatuses"] is True
        await _wamid(sim)
        assert await _statuses(sim, 3) == ["read", "delivered", "sent"]


class TestExplicitStatus:
    """``/_sim/status`` posts one status of a recorded send, ``failed`` with Meta's errors."""

    async def test_failed(self, sim: Sim) -> None:
        await sim.control("POST", "config", {"autoStatuses": False})
        wamid = await _wamid(sim, biz_opaque_callback_data="m-9")
        answer = await sim.control("POST", "status",
                                   {"wamid": wamid, "status": "failed", "code": 131026})
        assert answer["ingestStatus"] == 200
        (status,) = sim.receiver.statuses()
        assert (status["id"], status["status"], status["biz_opaque_callback_data"]) == (
            wamid, "failed", "m-9")
        assert status["errors"][0]["code"] == 131026
        assert {"title", "message", "error_data", "href"} <= status["errors"][0].keys()

    async def test_unknown_wamid(self, sim: Sim) -> None:
        async with sim.http.post(f"{sim.base}/_sim/status",
                                 json={"wamid": "wamid.nope", "status": "read"}) as response:
            assert response.status == 400
            assert "wamid" in (await response.json())["error"]


class TestRawWebhook:
    """``/_sim/webhook`` signs any payload, or sends the given (wrong) signature as is."""

    async def test_signed(self, sim: Sim) -> None:
        answer = await sim.control("POST", "webhook", {"payload": {"object": "x", "entry": []}})
        assert answer["ingestStatus"] == 200
        (post,) = sim.receiver.posts
        assert signature_valid(SECRET, post.body, post.signature)
        assert post.json() == {"object": "x", "entry": []}

    async def test_signature_override(self, sim: Sim) -> None:
        await sim.control("POST", "webhook", {"payload": {}, "signature": "sha256=00"})
        assert sim.receiver.posts[0].signature == "sha256=00"

    async def test_ingest_status_passed_back(self, sim: Sim) -> None:
        sim.receiver.status = 401
        answer = await sim.control("POST", "webhook", {"payload": {}})
        assert answer["ingestStatus"] == 401
        assert len(sim.receiver.posts) == 1


class TestResetAndQueries:
    """``/_sim/reset`` forgets sends, counts, rules and config; sends filter by message id."""

    async def test_reset(self, sim: Sim) -> None:
        await sim.control("POST", "config", {"autoStatuses": False})
        await _wamid(sim, biz_opaque_callback_data="m-1")
        await sim.control("POST", "fail", {"code": 4})
        await sim.control("POST", "reset")
        assert (await sim.control("GET", "sends"))["sends"] == []
        assert (await sim.control("GET", "sends/counts"))["counts"] == {}
        assert (await sim.control("GET", "config"))["autoStatuses"] is True
        assert (await sim.send(TEXT)).status == 200

    async def test_filter_by_message_id(self, sim: Sim) -> None:
        await _wamid(sim, biz_opaque_callback_data="a")
        await _wamid(sim, biz_opaque_callback_data="b")
        sends = (await sim.control("GET", "sends?messageId=b"))["sends"]
        assert [s["messageId"] for s in sends] == ["b"]

    async def test_injected_rejections_listed(self, sim: Sim) -> None:
        await sim.control("POST", "fail", {"code": 131048})
        assert (await sim.send({**TEXT, "biz_opaque_callback_data": "r"})).status == 400
        rejected = (await sim.control("GET", "rejected"))["rejected"]
        assert [(r["messageId"], r["code"]) for r in rejected] == [("r", 131048)]


class TestControlMistakes:
    """A malformed control request is a 400 with a readable message, never a 500."""

    @pytest.mark.parametrize(("path", "body"), [
        ("fail", {"times": 2}), ("fail", "nope"), ("config", {"statusDelaySeconds": -1}),
        ("inbound", {"from": "1"}), ("inbound", {"phoneNumberId": "1", "from": "1",
                                                 "type": "image", "mediaBase64": "!!"}),
        ("webhook", {"payload": []}), ("status", {"status": "lost", "wamid": "w"}),
    ])
    async def test_400(self, sim: Sim, path: str, body: object) -> None:
        async with sim.http.post(f"{sim.base}/_sim/{path}", json=body) as response:
            assert response.status == 400
            assert (await response.json())["error"]

    async def test_invalid_json(self, sim: Sim) -> None:
        async with sim.http.post(f"{sim.base}/_sim/fail", data=b"{") as response:
            assert response.status == 400
