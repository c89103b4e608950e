"""Media WhatsApp refuses is refused when the message is accepted (400 naming the type and the
limit), never accepted and failed later; a ``mediaUrl`` is fetched at accept (over HTTPS from a
local host, through the sender's SSRF guard) and the message carries the stored copy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from shared.db import Database
from shared.settings import Settings
from tests import media_samples as samples
from tests.https_media import MediaHost, media_host
from tests.integration.gateway.conftest import Client

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[MediaHost]:
    async with media_host(tmp_path) as running:
        yield running


@pytest.fixture
async def http(settings: Settings, db: Database, sim: TestClient,
               host: MediaHost) -> AsyncIterator[TestClient]:
    """The gateway, its mediaUrl fetcher allowed to reach the local HTTPS host."""
    app = create_app(settings, db=db, fetcher=host.fetcher(settings.media_max_bytes))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def send_url(api: Client, host: MediaHost, kind: str, data: bytes,
                   path: str = "/file") -> tuple[int, Any]:
    host.files[path] = data
    return await api.send(type=kind, content=None, mediaUrl=host.url(path))


async def nothing_kept(db: Database) -> None:
    assert await db.messages.count_documents({}) == 0
    assert await db.media.count_documents({}) == 0


class TestMediaUrl:
    """Fetched once at accept, checked, stored; the message keeps the stored copy."""

    @pytest.mark.parametrize(("kind", "data", "mime"), [
        ("Image", samples.png(), "image/png"), ("Video", samples.mp4(), "video/mp4"),
        ("Audio", samples.mp3(), "audio/mpeg"), ("Document", samples.pdf(), "application/pdf"),
    ])
    async def test_a_good_file_is_fetched_and_stored(self, api: Client, host: MediaHost,
                                                     db: Database, settings: Settings,
                                                     kind: str, data: bytes, mime: str) -> None:
        status, body = await send_url(api, host, kind, data)
        assert status == 202, body
        message = body["data"]
        media = await db.media.find_one({"_id": message["mediaId"]})
        assert media["mimeType"] == mime and media["size"] == len(data)
        assert media["sourceUrl"] == host.url("/file") and media["userId"] == api.tenant.user_id
        assert message["mediaUrl"] == f"{settings.gateway_url}/api/v1/media/{media['_id']}"
        assert host.hits == ["/file"]
        async with api.http.get(f"/api/v1/media/{media['_id']}",
                                headers=api.tenant.auth) as download:
            assert await download.read() == data

    @pytest.mark.parametrize(("kind", "data", "mime"), [
        ("Image", samples.gif(), "image/gif"), ("Image", samples.webp(), "image/webp"),
        ("Audio", samples.wav(), "audio/wav"), ("Video", samples.mpeg_video(), "video/mpeg"),
    ])
    async def test_a_type_whatsapp_refuses_is_400(self, api: Client, host: MediaHost,
                                                  db: Database, kind: str, data: bytes,
                                                  mime: str) -> None:
        status, body = await send_url(api, host, kind, data)
        assert status == 400 and body["code"] == "VALIDATION_ERROR", body
        assert mime in body["message"] and f"{kind} messages take" in body["message"]
        assert " MB" in body["message"]  # the limit is named
        await nothing_kept(db)

    async def test_an_image_over_5_mb_is_400_naming_the_limit(self, api: Client,
                                                              host: MediaHost,
                                                              db: Database) -> None:
        status, body = await send_url(api, host, "Image", samples.jpeg(5 * MIB + 1))
        assert status == 400, body
        assert "Image media must be at most 5 MB" in body["message"]
        await nothing_kept(db)

    async def test_unreachable_and_internal_urls_are_400(self, api: Client,
                                                         db: Database) -> None:
        for url, needle in (("https://10.0.0.1/a.png", "private address"),
                            ("https://no-such-host.invalid/a.png", "does not resolve")):
            status, body = await api.send(type="Image", mediaUrl=url)
            assert status == 400 and needle in body["message"], body
            assert body["details"][0]["field"] == "mediaUrl"
        status, body = await api.send(type="Image", mediaUrl="https://127.0.0.1:1/a.png")
        assert status == 400 and "could not be fetched" in body["message"], body
        await nothing_kept(db)


class TestMediaId:
    """An upload is checked against the message type and WhatsApp's limit."""

    async def upload_doc(self, db: Database, api: Client, mime: str, size: int) -> str:
        await db.media.insert_one({"_id": f"m-{mime}-{size}", "userId": api.tenant.user_id,
                                   "mimeType": mime, "size": size, "key": "messages/x"})
        return f"m-{mime}-{size}"

    @pytest.mark.parametrize(("kind", "mime", "size", "needle"), [
        ("Image", "image/gif", 100, "this file is image/gif"),
        ("Image", "image/webp", 100, "this file is image/webp"),
        ("Audio", "audio/wav", 100, "this file is audio/wav"),
        ("Video", "video/mpeg", 100, "this file is video/mpeg"),
        ("Image", "image/png", 5 * MIB + 1, "at most 5 MB"),
        ("Video", "video/mp4", 16 * MIB + 1, "at most 16 MB"),
        ("Video", "image/png", 100, "Video messages take MP4 up to 16 MB"),
    ])
    async def test_what_whatsapp_refuses_is_400(self, api: Client, db: Database, kind: str,
                                                mime: str, size: int, needle: str) -> None:
        media_id = await self.upload_doc(db, api, mime, size)
        status, body = await api.send(type=kind, mediaId=media_id)
        assert status == 400 and body["code"] == "VALIDATION_ERROR", body
        assert needle in body["message"] and body["details"][0]["field"] == "mediaId"
        assert await db.messages.count_documents({}) == 0

    async def test_a_fitting_upload_is_accepted(self, api: Client, db: Database) -> None:
        media_id = await self.upload_doc(db, api, "image/jpeg", 5 * MIB)
        status, body = await api.send(type="Image", mediaId=media_id)
        assert status == 202, body
        assert body["data"]["mediaId"] == media_id
