"""POST /api/v1/media and GET /api/v1/media/{id} against the file store and a real S3 server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from relay import embedded
from shared.broker import Broker
from shared.db import Database
from shared.sendable import SENDABLE
from shared.settings import Settings
from tests import media_samples as samples
from tests.integration.gateway.gateway_client import User, running_gateway

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 in server mode, a real HTTP process on a free port."""
    port = embedded.free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **AWS_ENV})
    try:
        embedded.wait_for_port("127.0.0.1", port, timeout=30, what="moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


class Backend:
    """One media store under test: settings for the gateway, and a way to list what it holds."""

    def __init__(self, kind: str, settings: Settings, endpoint: str | None = None,
                 bucket: str | None = None) -> None:
        self.kind = kind
        self.settings = settings
        self.endpoint = endpoint
        self.bucket = bucket

    async def objects(self) -> list[str]:
        if self.kind == "file":
            root = self.settings.data_dir / "media"
            return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        async with aioboto3.Session().client("s3", endpoint_url=self.endpoint) as s3:
            listing = await s3.list_objects_v2(Bucket=self.bucket)
            return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture(params=["file", "s3"])
async def backend(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Backend]:
    if request.param == "file":
        yield Backend("file", settings)
        return
    endpoint = request.getfixturevalue("s3_server")
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = f"relay-{uuid.uuid4().hex[:12]}"
    async with aioboto3.Session().client("s3", endpoint_url=endpoint) as s3:
        await s3.create_bucket(Bucket=bucket)
    s3_settings = settings.model_copy(update={
        "media_store": f"s3://{bucket}/media", "s3_endpoint_url": endpoint,
    })
    yield Backend("s3", s3_settings, endpoint, bucket)


@pytest.fixture
async def client(backend: Backend, db: Database, broker: Broker) -> AsyncIterator[TestClient]:
    async with running_gateway(backend.settings, db=db, broker=broker) as test_client:
        yield test_client


@pytest.fixture
async def alice(db: Database) -> User:
    return await User.create(db, "alice")


def form(data: bytes, filename: str = "upload.bin", content_type: str = "application/pdf",
         field: str = "file") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field(field, data, filename=filename, content_type=content_type)
    return body


async def upload(client: TestClient, user: User | None, data: bytes, **kwargs: Any) -> Any:
    headers = user.headers() if user else {}
    headers.update(kwargs.pop("headers", {}))
    response = await client.post("/api/v1/media", data=form(data, **kwargs), headers=headers)
    return response.status, await response.json()


class TestTypeFromBytes:
    """The stored type is the one the bytes show, whatever the name and header claim."""

    async def test_png_named_pdf_is_stored_as_png(
        self, client: TestClient, alice: User, backend: Backend, db: Database
    ) -> None:
        data = samples.png()
        status, body = await upload(client, alice, data, filename="report.pdf",
                                    content_type="application/pdf")
        assert status == 201, body
        media = body["data"]
        assert media["mimeType"] == "image/png" and media["size"] == len(data)
        assert media["url"] == f"{backend.settings.gateway_url}/api/v1/media/{media['id']}"
        doc = await db.media.find_one({"_id": media["id"]})
        assert doc["userId"] == alice.id and doc["mimeType"] == "image/png"
        assert doc["key"].startswith("messages/") and doc["key"].endswith(".png")
        assert any(key.endswith(doc["key"]) for key in await backend.objects())
        download = await client.get(f"/api/v1/media/{media['id']}", headers=alice.headers())
        assert download.status == 200
        assert download.content_type == "image/png"
        assert await download.read() == data

    async def test_exe_named_jpg_is_refused_naming_what_it_is(
        self, client: TestClient, alice: User, backend: Backend, db: Database
    ) -> None:
        status, body = await upload(client, alice, samples.exe(), filename="cat.jpg",
                                    content_type="image/jpeg")
        assert status == 415
        assert body["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert "application/x-msdownload" in body["message"] and "PNG" in body["message"]
        assert "image/png" in body["details"][0]["allowed"]
        assert await db.media.count_documents({}) == 0
        assert await backend.objects() == []

    @pytest.mark.parametrize("mime", sorted(SENDABLE))
    async def test_every_sendable_type_is_accepted_as_itself(
        self, client: TestClient, alice: User, mime: str
    ) -> None:
        status, body = await upload(client, alice, samples.ACCEPTED[mime],
                                    content_type="application/octet-stream")
        assert status == 201, body
        assert body["data"]["mimeType"] == mime

    @pytest.mark.parametrize("mime", sorted(set(samples.ACCEPTED) - set(SENDABLE)))
    async def test_a_type_whatsapp_refuses_is_415_naming_it(
        self, client: TestClient, alice: User, db: Database, mime: str
    ) -> None:
        status, body = await upload(client, alice, samples.ACCEPTED[mime])
        assert status == 415 and body["code"] == "UNSUPPORTED_MEDIA_TYPE", body
        assert mime in body["message"] and "JPEG or PNG up to 5 MB" in body["message"]
        assert await db.media.count_documents({}) == 0


class TestSizeLimit:
    """The limit is enforced while streaming: exactly the limit passes, one byte more is 413."""

    async def test_one_byte_over_ten_mib_is_413_and_nothing_is_stored(
        self, client: TestClient, alice: User, backend: Backend, db: Database
    ) -> None:
        status, body = await upload(client, alice, samples.jpeg(10 * MIB + 1),
                                    content_type="image/jpeg")
        assert status == 413
        assert body["code"] == "PAYLOAD_TOO_LARGE"
        assert await db.media.count_documents({}) == 0
        assert await backend.objects() == []

    async def test_exactly_ten_mib_pdf_is_accepted(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        data = samples.pdf() + b"\n" * (10 * MIB - len(samples.pdf()))
        status, body = await upload(client, alice, data)
        assert status == 201, body
        assert body["data"]["size"] == 10 * MIB
        assert await db.media.count_documents({"userId": alice.id}) == 1

    async def test_an_image_over_whatsapps_5_mb_is_413_naming_the_limit(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        status, body = await upload(client, alice, samples.jpeg(5 * MIB + 1),
                                    content_type="image/jpeg")
        assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE", body
        assert "Image media must be at most 5 MB" in body["message"]
        assert await db.media.count_documents({}) == 0
