"""Relay's own Cloud API client (``shared.cloudapi``) works against the simulator end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.cloudapi import CloudApi, CloudApiError, ErrorClass
from tests.integration.simulator.conftest import Sim

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(sim: Sim) -> AsyncIterator[CloudApi]:
    api = CloudApi(sim.base, sim.settings.whatsapp_api_version, timeout=5)
    await api.start()
    yield api
    await api.close()


class TestClientAgainstSimulator:
    """Send, mark read, number lookup, media round trip and error classification."""

    async def test_send_and_mark_read(self, sim: Sim, client: CloudApi) -> None:
        wamid = await client.send("1", "tok", {"to": "+15551234567", "type": "text",
                                               "text": {"body": "hi"},
                                               "biz_opaque_callback_data": "m-1"})
        assert wamid.startswith("wamid.")
        await client.mark_read("1", "tok", wamid)
        assert (await sim.control("GET", "sends/counts"))["counts"] == {"m-1": 1}
        assert [r["wamid"] for r in (await sim.control("GET", "reads"))["reads"]] == [wamid]

    async def test_phone_number(self, client: CloudApi) -> None:
        assert (await client.phone_number("106540352242922", "tok"))["id"] == "106540352242922"

    async def test_media_round_trip(self, client: CloudApi) -> None:
        data = b"%PDF-1.7 hello"
        media_id = await client.upload_media("1", "tok", data, "application/pdf", "a.pdf")
        info = await client.resolve_media(media_id, "tok")
        assert (info["mime_type"], info["file_size"]) == ("application/pdf", len(data))
        assert await client.download(info["url"], "tok", max_bytes=1024) == data

    async def test_auth_error_classified(self, client: CloudApi) -> None:
        with pytest.raises(CloudApiError) as caught:
            await client.phone_number("1", "bad-token")
        assert (caught.value.code, caught.value.http_status) == (190, 401)
        assert caught.value.kind is ErrorClass.AUTH

    async def test_throttle_classified(self, sim: Sim, client: CloudApi) -> None:
        await sim.control("POST", "fail", {"code": 130429, "httpStatus": 429})
        with pytest.raises(CloudApiError) as caught:
            await client.send("1", "tok", {"to": "15551234567", "type": "text",
                                           "text": {"body": "hi"}})
        assert (caught.value.code, caught.value.http_status) == (130429, 429)
        assert caught.value.kind is ErrorClass.RETRY

    async def test_timeout_is_an_error(self, sim: Sim) -> None:
        api = CloudApi(sim.base, sim.settings.whatsapp_api_version, timeout=0.2)
        await api.start()
        try:
            await sim.control("POST", "fail", {"delaySeconds": 1})
            with pytest.raises(CloudApiError, match="unreachable") as caught:
                await api.send("1", "tok", {"to": "15551234567", "type": "text",
                                            "text": {"body": "hi"}})
            assert caught.value.in_doubt  # the request went out: Meta may have accepted it
        finally:
            await api.close()

    async def test_a_refused_connection_is_not_in_doubt(self) -> None:
        from relay.embedded import free_port

        api = CloudApi(f"http://127.0.0.1:{free_port()}", "v21.0", timeout=2)
        await api.start()
        try:
            with pytest.raises(CloudApiError, match="unreachable") as caught:
                await api.send("1", "tok", {"to": "15551234567", "type": "text",
                                            "text": {"body": "hi"}})
            assert caught.value.kind is ErrorClass.RETRY and not caught.value.in_doubt
        finally:
            await api.close()
