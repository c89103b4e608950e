"""Media: uploaded (mediaId) and external (mediaUrl) through the SSRF guard."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from relay.embedded import free_port
from shared.media import FileMediaStore
from shared.models import utcnow
from tests.conftest import eventually
from tests.integration.sender.support import Seeder
from tests.media_samples import png

pytestmark = pytest.mark.integration


@dataclass
class MediaServer:
    """A local web server that counts every request it gets, by path."""

    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def media_server() -> AsyncIterator[MediaServer]:
    server = MediaServer(free_port())

    async def image(request: web.Request) -> web.Response:
        server.hits.append(request.path)
        return web.Response(body=png(), content_type="text/plain")  # the bytes decide

    async def redirect(request: web.Request) -> web.Response:
        server.hits.append(request.path)
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/img.png", image)
    app.router.add_get("/redirect", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    yield server
    await runner.cleanup()


async def settled(seeder: Seeder, doc: dict) -> dict:
    async def check() -> dict | None:
        found = await seeder.status(doc)
        return found if found["status"] != "Queued" else None
    return await eventually(check, timeout=15, message="settled")


async def send_image(seeder: Seeder, url: str) -> dict:
    account = await seeder.account()
    [doc] = await seeder.messages(account, type_="Image", content="a caption", mediaUrl=url)
    await seeder.publish(doc)
    return await settled(seeder, doc)


class TestSsrfGuard:
    """mediaUrl never reaches loopback, private or metadata addresses, not even by redirect."""

    async def test_loopback_is_refused_and_never_contacted(self, seeder, sim, sender,
                                                           media_server):
        final = await send_image(seeder, media_server.url("/img.png"))
        assert final["status"] == "Failed"
        assert final["errorMessage"] == "mediaUrl points to a loopback address (127.0.0.1); refused"
        assert media_server.hits == []

    @pytest.mark.parametrize(("url", "reason"), [
        ("https://10.0.0.1/img.png", "a private address (10.0.0.1)"),
        ("https://169.254.169.254/latest/meta-data/", "a cloud metadata address (169.254.169.254)"),
    ])
    async def test_private_and_metadata_addresses_are_refused(self, seeder, sim, sender, url,
                                                              reason):
        final = await send_image(seeder, url)
        assert final["status"] == "Failed"
        assert reason in final["errorMessage"]
        assert await sim.sends() == []

    @pytest.mark.parametrize(("target", "reason"), [
        ("http://127.0.0.1:{port}/img.png", "loopback"),
        ("https://10.0.0.1/img.png", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ])
    async def test_a_redirect_to_them_is_refused(self, seeder, sim, senders, settings,
                                                 media_server, target, reason):
        await senders.start(settings.model_copy(update={"media_fetch_allowlist": ["localhost"]}))
        inner = target.format(port=media_server.port)
        final = await send_image(seeder, media_server.url(f"/redirect?to={inner}", "localhost"))
        assert final["status"] == "Failed"
        assert reason in final["errorMessage"] and "refused" in final["errorMessage"]
        assert media_server.hits == ["/redirect"]  # the target itself was never requested


class TestMediaSend:
    """Allowed media is fetched, sniffed, stored under messages/, uploaded and sent by id."""

    async def test_an_allowed_url_is_fetched_stored_and_sent_by_id(self, seeder, sim, senders,
                                                                   settings, media_server, db):
        await senders.start(settings.model_copy(update={"media_fetch_allowlist": ["127.0.0.1"]}))
        final = await send_image(seeder, media_server.url("/img.png"))
        assert final["status"] == "Sent", final.get("errorMessage")
        [record] = await sim.sends_of(final["_id"])
        assert record["payload"]["image"]["id"] and "link" not in record["payload"]["image"]
        assert record["payload"]["image"]["caption"] == "a caption"
        media = await db.media.find_one({"_id": final["fetchedMediaId"]})
        assert media["key"].startswith("messages/") and media["mimeType"] == "image/png"

    async def test_the_wrong_kind_of_file_is_refused(self, seeder, sim, senders, settings,
                                                     media_server):
        await senders.start(settings.model_copy(update={"media_fetch_allowlist": ["127.0.0.1"]}))
        account = await seeder.account()
        [doc] = await seeder.messages(account, type_="Video", mediaUrl=media_server.url("/img.png"))
        await seeder.publish(doc)
        final = await settled(seeder, doc)
        assert final["status"] == "Failed" and "not a video" in final["errorMessage"]

    async def test_uploaded_media_is_sent_by_id(self, seeder, sim, sender, settings, db):
        store = FileMediaStore(settings.data_dir / "media")
        key = f"messages/{uuid.uuid4()}.png"
        await store.put(key, png(), "image/png")
        account = await seeder.account()
        media_id = str(uuid.uuid4())
        await db.media.insert_one({"_id": media_id, "userId": account["userId"], "key": key,
                                   "mimeType": "image/png", "size": 10, "createdAt": utcnow()})
        [doc] = await seeder.messages(account, type_="Image", content=None, mediaId=media_id)
        await seeder.publish(doc)
        assert (await settled(seeder, doc))["status"] == "Sent"
        [record] = await sim.sends_of(doc["_id"])
        assert record["payload"]["image"]["id"]
