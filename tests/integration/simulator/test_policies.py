"""Meta's messaging rules over HTTP: the 24-hour window opened by an injected inbound message,
and template sends checked against the registry, each only when switched on."""

from __future__ import annotations

import time

import pytest

from tests.integration.simulator.conftest import Sim

pytestmark = pytest.mark.integration
PNID = "106540352242922"
TEXT = {"to": "+15551234567", "type": "text", "text": {"body": "hi"}}


async def error_code(sim: Sim, payload: dict[str, object]) -> int:
    response = await sim.send(payload, phone_number_id=PNID)
    assert response.status in (400, 404), await response.text()
    return int((await response.json())["error"]["code"])


class TestWindow:
    """``enforceWindow``: only users who wrote within 24 hours get free-form messages."""

    async def test_off_by_default(self, sim: Sim) -> None:
        assert (await sim.send(TEXT, phone_number_id=PNID)).status == 200

    async def test_inbound_opens_the_window(self, sim: Sim) -> None:
        await sim.control("POST", "config", {"enforceWindow": True})
        assert await error_code(sim, TEXT) == 131047
        await sim.control("POST", "inbound", {"phoneNumberId": PNID, "from": "15551234567",
                                              "type": "text", "text": "hello", "retry": False})
        assert (await sim.send(TEXT, phone_number_id=PNID)).status == 200
        rejected = (await sim.control("GET", "rejected"))["rejected"]
        assert [r["code"] for r in rejected] == [131047]

    async def test_a_message_written_a_day_ago_does_not(self, sim: Sim) -> None:
        await sim.control("POST", "config", {"enforceWindow": True})
        await sim.control("POST", "inbound", {
            "phoneNumberId": PNID, "from": "15551234567", "type": "text", "text": "old",
            "writtenAt": time.time() - 25 * 3600, "retry": False})
        assert await error_code(sim, TEXT) == 131047
        template = {"to": "+15551234567", "type": "template",
                    "template": {"name": "any", "language": {"code": "en_US"}}}
        assert (await sim.send(template, phone_number_id=PNID)).status == 200


class TestTemplates:
    """``enforceTemplates``: a template send must name an approved template and fit it."""

    async def test_registry_checks(self, sim: Sim) -> None:
        await sim.control("POST", "templates", {"wabaId": "waba-1", "templates": [
            {"name": "order_update", "language": "en_US", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Hi {{1}}"}]}]})
        await sim.control("POST", "config", {"enforceTemplates": True})

        def send(name: str, *texts: str) -> dict[str, object]:
            parameters = [{"type": "text", "text": t} for t in texts]
            return {"to": "+15551234567", "type": "template", "template": {
                "name": name, "language": {"code": "en_US"},
                "components": [{"type": "body", "parameters": parameters}]}}

        assert (await sim.send(send("order_update", "Ada"), phone_number_id=PNID)).status == 200
        assert await error_code(sim, send("unknown", "Ada")) == 132001
        assert await error_code(sim, send("order_update")) == 132000
        assert await error_code(sim, send("order_update", "")) == 132012
