"""The simulator's template registry over real HTTP: Meta's paged list, create → PENDING →
reviewed with a signed ``message_template_status_update`` webhook, rejection on demand, seeding,
and what Relay's Cloud API client reads from it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cloudapi import CloudApi, CloudApiError
from shared.secrets import signature_valid
from tests.conftest import eventually
from tests.integration.simulator.conftest import SECRET, Sim

pytestmark = pytest.mark.integration

WABA = "1029384756"
BODY = [{"type": "BODY", "text": "Hi {{1}}"}]
AUTH = {"Authorization": "Bearer good-token"}


def template(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "language": "en_US", "category": "UTILITY", "components": BODY,
            **extra}


async def template_webhooks(sim: Sim, count: int) -> list[dict[str, Any]]:
    async def arrived() -> list[dict[str, Any]] | None:
        found = [(post, change) for post in sim.receiver.posts
                 for entry in post.json()["entry"] for change in entry["changes"]
                 if change["field"] == "message_template_status_update"]
        if len(found) < count:
            return None
        for post, _ in found:
            assert signature_valid(SECRET, post.body, post.signature)
        return [{"wabaId": post.json()["entry"][0]["id"], **change["value"]}
                for post, change in found]

    got: list[dict[str, Any]] = await eventually(arrived, timeout=10,
                                                 message=f"{count} template webhooks")
    return got


class TestList:
    """Pages follow ``paging.cursors.after`` while ``paging.next`` is given."""

    async def test_two_pages_by_limit(self, sim: Sim) -> None:
        await sim.control("POST", "templates", {
            "wabaId": WABA, "templates": [template(f"t{n}") for n in range(3)]})
        async with sim.http.get(sim.api(WABA, "message_templates"), params={"limit": "2"},
                                headers=AUTH) as r:
            first = await r.json()
        assert [t["name"] for t in first["data"]] == ["t0", "t1"]
        assert first["data"][0]["status"] == "APPROVED"
        assert "after=" in first["paging"]["next"]
        async with sim.http.get(sim.api(WABA, "message_templates"), headers=AUTH, params={
                "limit": "2", "after": first["paging"]["cursors"]["after"]}) as r:
            second = await r.json()
        assert [t["name"] for t in second["data"]] == ["t2"]
        assert "next" not in second["paging"]

    async def test_relays_client_reads_every_page(self, sim: Sim) -> None:
        await sim.control("POST", "templates", {
            "wabaId": WABA, "templates": [template(f"t{n}") for n in range(5)]})
        cloud = CloudApi(sim.base, sim.settings.whatsapp_api_version)
        await cloud.start()
        try:
            listed = await cloud.list_templates(WABA, "good-token", page_size=2)
            assert [t["name"] for t in listed] == [f"t{n}" for n in range(5)]
            assert await cloud.list_templates("other-waba", "good-token") == []
            with pytest.raises(CloudApiError) as refused:
                await cloud.list_templates(WABA, "bad-token")
            assert refused.value.code == 190
        finally:
            await cloud.close()

    @pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "x"}, {"after": "%%%"}])
    async def test_bad_paging_is_code_100(self, sim: Sim, query: dict[str, str]) -> None:
        async with sim.http.get(sim.api(WABA, "message_templates"), params=query,
                                headers=AUTH) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == 100


class TestCreateAndReview:
    """A created template is PENDING, then APPROVED (or REJECTED on demand) with a webhook."""

    async def test_approved_after_review(self, sim: Sim) -> None:
        async with sim.http.post(sim.api(WABA, "message_templates"), json=template("hello"),
                                 headers=AUTH) as r:
            made = await r.json()
        assert made["status"] == "PENDING" and made["category"] == "UTILITY"
        [hook] = await template_webhooks(sim, 1)
        assert hook == {"wabaId": WABA, "event": "APPROVED",
                        "message_template_id": int(made["id"]),
                        "message_template_name": "hello",
                        "message_template_language": "en_US", "reason": "NONE"}
        listed = await sim.control("GET", f"templates?wabaId={WABA}")
        assert listed["templates"][0]["status"] == "APPROVED"

    async def test_rejection_on_demand_before_and_after_review(self, sim: Sim) -> None:
        await sim.control("POST", "templates/reject", {"name": "promo", "reason": "SCAM"})
        async with sim.http.post(sim.api(WABA, "message_templates"), json=template("promo"),
                                 headers=AUTH) as r:
            assert r.status == 200
        [hook] = await template_webhooks(sim, 1)
        assert (hook["event"], hook["reason"]) == ("REJECTED", "SCAM")
        await sim.control("POST", "templates", {"wabaId": WABA,
                                                "templates": [template("live")]})
        answer = await sim.control("POST", "templates/reject", {"name": "live"})
        assert answer["rejectedNow"] == 1
        hooks = await template_webhooks(sim, 2)
        assert (hooks[1]["message_template_name"], hooks[1]["event"]) == ("live", "REJECTED")

    @pytest.mark.parametrize("change", [{"name": "Bad-Name"}, {"category": "OTHER"},
                                        {"components": []}, {"language": None}])
    async def test_bad_template_is_code_100(self, sim: Sim, change: dict[str, Any]) -> None:
        async with sim.http.post(sim.api(WABA, "message_templates"), headers=AUTH,
                                 json={**template("x"), **change}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == 100

    async def test_the_same_name_and_language_twice(self, sim: Sim) -> None:
        await sim.control("POST", "templates", {"wabaId": WABA, "templates": [template("a")]})
        async with sim.http.post(sim.api(WABA, "message_templates"), json=template("a"),
                                 headers=AUTH) as r:
            error = (await r.json())["error"]
        assert (error["code"], error["error_subcode"]) == (100, 2388024)

    async def test_review_delay_is_a_setting_and_reset_forgets(self, sim: Sim) -> None:
        config = await sim.control("POST", "config", {"templateReviewSeconds": 0})
        assert config["templateReviewSeconds"] == 0
        await sim.control("POST", "templates", {"wabaId": WABA, "templates": [template("a")]})
        await sim.control("POST", "reset")
        assert (await sim.control("GET", f"templates?wabaId={WABA}"))["templates"] == []
