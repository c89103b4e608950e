"""Media routes refuse what they must: no key, wrong scope, another tenant, malformed uploads;
and an Idempotency-Key makes an upload safe to repeat."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from shared.db import Database
from tests import media_samples as samples
from tests.integration.gateway.gateway_client import User

pytestmark = pytest.mark.integration

MEDIA = "/api/v1/media"


def form(data: bytes, field: str = "file") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field(field, data, filename="f.bin", content_type="application/octet-stream")
    return body


async def post(client: TestClient, user: User | None, data: aiohttp.FormData | bytes,
               **headers: str) -> tuple[int, dict]:
    all_headers = {**(user.headers() if user else {}), **headers}
    async with client.post(MEDIA, data=data, headers=all_headers) as response:
        return response.status, await response.json()


class TestMediaAccess:
    """Uploads need messages:write; downloads are the owner's alone (404 for anyone else)."""

    async def test_unauthenticated_upload_is_401_and_stores_nothing(
        self, client: TestClient, db: Database
    ) -> None:
        status, body = await post(client, None, form(samples.png()))
        assert status == 401 and body["code"] == "UNAUTHORIZED"
        assert await db.media.count_documents({}) == 0

    async def test_a_read_only_key_cannot_upload(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        reader = await alice.key_with(db, "messages:read")
        status, body = await post(client, reader, form(samples.png()))
        assert status == 403 and body["code"] == "FORBIDDEN"

    async def test_another_users_media_is_not_found(
        self, client: TestClient, db: Database, alice: User
    ) -> None:
        _, body = await post(client, alice, form(samples.png()))
        media_id = body["data"]["id"]
        bob = await User.create(db, "bob")
        response = await client.get(f"{MEDIA}/{media_id}", headers=bob.headers())
        assert response.status == 404
        assert (await response.json())["code"] == "NOT_FOUND"
        missing = await client.get(f"{MEDIA}/no-such-id", headers=alice.headers())
        assert missing.status == 404
        assert (await client.get(f"{MEDIA}/{media_id}")).status == 401


class TestMalformedUploads:
    """Anything but one non-empty multipart 'file' is a 400 that says what to send."""

    async def test_json_instead_of_multipart(self, client: TestClient, alice: User) -> None:
        status, body = await post(client, alice, b'{"file": "x"}',
                                  **{"Content-Type": "application/json"})
        assert status == 400 and "multipart/form-data" in body["message"]

    @pytest.mark.parametrize(("content_type", "raw"), [
        ("multipart/form-data", b"--x\r\n\r\nabc\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b"no boundary anywhere"),
        ("multipart/form-data; boundary=x",
         b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\n\x89PNG'),
    ])
    async def test_broken_multipart_is_400_not_500(
        self, client: TestClient, alice: User, content_type: str, raw: bytes
    ) -> None:
        status, body = await post(client, alice, raw, **{"Content-Type": content_type})
        assert status == 400 and body["code"] == "VALIDATION_ERROR", body

    async def test_no_file_field(self, client: TestClient, alice: User) -> None:
        status, body = await post(client, alice, form(samples.png(), field="picture"))
        assert status == 400 and "'file'" in body["message"]

    async def test_empty_file(self, client: TestClient, alice: User) -> None:
        status, body = await post(client, alice, form(b""))
        assert status == 400 and "empty" in body["message"]

    async def test_two_files(self, client: TestClient, alice: User, db: Database) -> None:
        body = aiohttp.FormData()
        for _ in range(2):
            body.add_field("file", samples.png(), filename="a.png", content_type="image/png")
        status, answer = await post(client, alice, body)
        assert status == 400 and "exactly one" in answer["message"]
        assert await db.media.count_documents({}) == 0

    async def test_an_oversized_other_field_is_413(self, client: TestClient, alice: User) -> None:
        body = aiohttp.FormData()
        body.add_field("note", "x" * 20_000)
        body.add_field("file", samples.png(), filename="a.png", content_type="image/png")
        status, answer = await post(client, alice, body)
        assert status == 413 and answer["code"] == "PAYLOAD_TOO_LARGE"


class TestIdempotentUpload:
    """The same key and file answers the first upload again; another file under it is 409."""

    async def test_repeat_returns_the_first_answer_and_stores_once(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        first = await post(client, alice, form(samples.png()), **{"Idempotency-Key": "up-1"})
        again = await post(client, alice, form(samples.png()), **{"Idempotency-Key": "up-1"})
        assert first[0] == again[0] == 201
        assert again[1] == first[1]
        assert await db.media.count_documents({"userId": alice.id}) == 1

    async def test_same_key_with_another_file_is_409(
        self, client: TestClient, alice: User, db: Database
    ) -> None:
        await post(client, alice, form(samples.png()), **{"Idempotency-Key": "up-2"})
        status, body = await post(client, alice, form(samples.jpeg()),
                                  **{"Idempotency-Key": "up-2"})
        assert status == 409 and body["code"] == "CONFLICT"
        assert await db.media.count_documents({"userId": alice.id}) == 1
