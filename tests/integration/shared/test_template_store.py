"""The MongoDB template store on the embedded server: find, pages, sync counts and writes,
status changes by Meta's id and by name, and what reads back after update operators."""

from __future__ import annotations

import pytest

from shared.db import Database
from shared.template_store import MongoTemplateStore
from shared.templates import Template, TemplateStatus, template_id

pytestmark = pytest.mark.integration

BODY = [{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Ada"]]}}]


def template(name: str, *, account: str = "a1", status: TemplateStatus = TemplateStatus.APPROVED,
             meta_id: str | None = None, language: str = "en_US") -> Template:
    return Template(_id=template_id(account, name, language), whatsapp_account_id=account,
                    user_id="u1", meta_id=meta_id or f"m-{name}", waba_id="w1", name=name,
                    language=language, category="UTILITY", status=status, components=BODY)


@pytest.fixture
def store(db: Database) -> MongoTemplateStore:
    return MongoTemplateStore(db)


class TestMongoTemplateStore:
    """What the registry, the accept path and ingest rely on, on the real server."""

    async def test_add_find_and_a_second_add(self, store: MongoTemplateStore) -> None:
        assert await store.add(template("hello")) is True
        assert await store.add(template("hello")) is False
        found = await store.find("a1", "hello", "en_US")
        assert found is not None and found.components == BODY
        assert await store.find("a1", "hello", "pt_BR") is None
        assert await store.find("a2", "hello", "en_US") is None

    async def test_sync_counts_and_leaves_the_store_equal_to_metas_list(
        self, store: MongoTemplateStore
    ) -> None:
        for name in ("same", "changes", "gone"):
            await store.add(template(name, status=TemplateStatus.PENDING
                                     if name == "changes" else TemplateStatus.APPROVED))
        await store.add(template("other", account="a2"))
        fetched = [template("same"), template("changes"), template("new")]
        counts = await store.sync("a1", fetched)
        assert (counts.added, counts.updated, counts.removed) == (1, 1, 1)
        page, total = await store.page("a1", page=1, limit=10)
        assert total == 3
        assert [(t.name, t.status) for t in page] == [
            ("changes", TemplateStatus.APPROVED), ("new", TemplateStatus.APPROVED),
            ("same", TemplateStatus.APPROVED)]
        assert page[1].components == BODY  # a whole array of subdocuments, set intact
        again = await store.sync("a1", fetched)
        assert (again.added, again.updated, again.removed) == (0, 0, 0)
        assert await store.find("a2", "other", "en_US") is not None

    async def test_pages(self, store: MongoTemplateStore) -> None:
        for name in ("c", "a", "b"):
            await store.add(template(name))
        first, total = await store.page("a1", page=1, limit=2)
        second, _ = await store.page("a1", page=2, limit=2)
        assert total == 3
        assert [t.name for t in first + second] == ["a", "b", "c"]

    async def test_status_by_metas_id_moves_every_accounts_copy(
        self, store: MongoTemplateStore
    ) -> None:
        await store.add(template("hello", status=TemplateStatus.PENDING, meta_id="77"))
        await store.add(template("hello", account="a2", status=TemplateStatus.PENDING,
                                 meta_id="77"))
        assert await store.set_status("77", TemplateStatus.REJECTED, "INVALID_FORMAT") == 2
        for account in ("a1", "a2"):
            got = await store.find(account, "hello", "en_US")
            assert got is not None
            assert (got.status, got.rejected_reason) == (TemplateStatus.REJECTED,
                                                         "INVALID_FORMAT")
            assert got.updated_at is not None and got.updated_at.tzinfo is not None
        assert await store.set_status("nope", TemplateStatus.APPROVED) == 0

    async def test_status_by_name_and_meta_id_set_later(self, store: MongoTemplateStore) -> None:
        await store.add(template("hello", status=TemplateStatus.PENDING))
        assert await store.set_status_by_name("w1", "hello", "en_US",
                                              TemplateStatus.APPROVED) == 1
        assert await store.set_status_by_name("w2", "hello", "en_US",
                                              TemplateStatus.PAUSED) == 0
        moved = await store.set_meta_id(template_id("a1", "hello", "en_US"), "99")
        assert moved is not None and moved.meta_id == "99"
        assert moved.status == TemplateStatus.APPROVED
        await store.discard(moved.id)
        assert await store.find("a1", "hello", "en_US") is None
