"""The template registry's logic without I/O: Meta's list items and statuses read, a sync
planned, the cached reader, the registry's sync and create, and the list's paging cursor."""

from __future__ import annotations

from typing import Any

import pytest

from shared.cloudapi import CloudApiError, next_cursor
from shared.secrets import TokenCipher
from shared.template_registry import Failure, TemplateError, TemplateRegistry
from shared.templates import (
    CachedTemplates,
    Template,
    TemplateStatus,
    from_meta,
    plan_sync,
    rejected_reason,
    status_of,
    template_id,
)
from tests.unit.fakes import FakeTemplateStore

pytestmark = pytest.mark.unit

BODY = [{"type": "BODY", "text": "Hello {{1}}"}]
CIPHER = TokenCipher("unit-secret")


def meta(name: str, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    return {"id": f"9{len(name)}", "name": name, "language": "en_US", "status": status,
            "category": "UTILITY", "components": BODY, **extra}


def template(name: str, status: TemplateStatus = TemplateStatus.APPROVED,
             account: str = "acc", **extra: Any) -> Template:
    item = from_meta(meta(name, status.value), account_id=account, user_id="u", waba_id="w")
    assert item is not None
    return item.model_copy(update=extra)


class TestMetaStatuses:
    """Meta's statuses and events map onto the five Relay keeps; a rejection keeps its reason."""

    @pytest.mark.parametrize(("meta_status", "kept"), [
        ("APPROVED", TemplateStatus.APPROVED), ("approved", TemplateStatus.APPROVED),
        ("REINSTATED", TemplateStatus.APPROVED), ("IN_APPEAL", TemplateStatus.PENDING),
        ("REJECTED", TemplateStatus.REJECTED), ("PAUSED", TemplateStatus.PAUSED),
        ("PENDING_DELETION", TemplateStatus.DISABLED), ("DISABLED", TemplateStatus.DISABLED),
    ])
    def test_known_statuses(self, meta_status: str, kept: TemplateStatus) -> None:
        assert status_of(meta_status) == kept

    def test_a_quality_flag_is_no_status(self) -> None:
        assert status_of("FLAGGED") is None
        assert status_of(None) is None

    def test_reason_only_for_a_rejection(self) -> None:
        assert rejected_reason(TemplateStatus.REJECTED, "INVALID_FORMAT") == "INVALID_FORMAT"
        assert rejected_reason(TemplateStatus.REJECTED, "NONE") == "Rejected by WhatsApp"
        assert rejected_reason(TemplateStatus.APPROVED, "NONE") is None


class TestFromMeta:
    """One element of Meta's list becomes a template of the account, keyed by name and
    language."""

    def test_fields(self) -> None:
        got = from_meta(meta("order_update", "REJECTED", rejected_reason="TAG_CONTENT_MISMATCH"),
                        account_id="acc", user_id="u", waba_id="w")
        assert got is not None
        assert got.id == template_id("acc", "order_update", "en_US")
        assert (got.meta_id, got.waba_id, got.category) == ("912", "w", "UTILITY")
        assert got.status == TemplateStatus.REJECTED
        assert got.rejected_reason == "TAG_CONTENT_MISMATCH"
        assert got.components == BODY

    def test_unknown_status_is_not_sendable(self) -> None:
        got = from_meta(meta("x", "SOMETHING_NEW"), account_id="a", user_id="u", waba_id="w")
        assert got is not None and got.status == TemplateStatus.DISABLED

    def test_without_name_or_language_it_is_skipped(self) -> None:
        assert from_meta({"language": "en"}, account_id="a", user_id="u", waba_id="w") is None
        assert from_meta({"name": "x"}, account_id="a", user_id="u", waba_id="w") is None


class TestPlanSync:
    """New templates are added, changed ones updated, unchanged ones left, missing ones
    removed."""

    def test_counts(self) -> None:
        stored = [template("same"), template("changes", TemplateStatus.PENDING),
                  template("gone")]
        fetched = [template("same"), template("changes"), template("new")]
        plan = plan_sync(stored, fetched)
        assert [t.name for t in plan.added] == ["new"]
        assert [t.name for t in plan.updated] == ["changes"]
        assert plan.removed == [template_id("acc", "gone", "en_US")]
        assert (plan.counts.added, plan.counts.updated, plan.counts.removed) == (1, 1, 1)

    def test_a_new_update_time_alone_is_no_change(self) -> None:
        old = template("same")
        assert plan_sync([old], [old.model_copy(update={"updated_at": None})]).counts.updated == 0

    def test_components_changed_is_an_update(self) -> None:
        old = template("t")
        new = old.model_copy(update={"components": [{"type": "BODY", "text": "Bye"}]})
        assert plan_sync([old], [new]).counts.updated == 1


class TestCachedTemplates:
    """Hits are served from memory for the TTL; misses and writes go to the store."""

    async def test_a_hit_is_cached(self) -> None:
        store = FakeTemplateStore(template("t"))
        cached = CachedTemplates(store, ttl=60)
        for _ in range(3):
            assert await cached.find("acc", "t", "en_US") is not None
        assert store.reads == 1

    async def test_a_miss_is_not_cached(self) -> None:
        store = FakeTemplateStore()
        cached = CachedTemplates(store, ttl=60)
        assert await cached.find("acc", "t", "en_US") is None
        await store.add(template("t"))
        assert await cached.find("acc", "t", "en_US") is not None

    async def test_a_status_change_through_it_is_seen_at_once(self) -> None:
        store = FakeTemplateStore(template("t", meta_id="m1"))
        cached = CachedTemplates(store, ttl=60)
        await cached.find("acc", "t", "en_US")
        assert await cached.set_status("m1", TemplateStatus.PAUSED) == 1
        found = await cached.find("acc", "t", "en_US")
        assert found is not None and found.status == TemplateStatus.PAUSED

    async def test_expired_entries_are_read_again(self) -> None:
        store = FakeTemplateStore(template("t"))
        cached = CachedTemplates(store, ttl=0)
        await cached.find("acc", "t", "en_US")
        await cached.find("acc", "t", "en_US")
        assert store.reads == 2


class FakeTemplateApi:
    """Meta's template endpoints in memory: a list, created bodies, an error to raise."""

    def __init__(self, listed: list[dict[str, Any]] | None = None) -> None:
        self.listed = listed or []
        self.created: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        self.error: CloudApiError | None = None

    async def list_templates(self, waba_id: str, token: str) -> list[dict[str, Any]]:
        self.tokens.append(token)
        if self.error:
            raise self.error
        return self.listed

    async def create_template(
        self, waba_id: str, token: str, template: dict[str, Any]
    ) -> dict[str, Any]:
        self.tokens.append(token)
        if self.error:
            raise self.error
        self.created.append(template)
        return {"id": "555", "status": "PENDING", "category": template["category"]}


def account(**extra: Any) -> dict[str, Any]:
    return {"_id": "acc", "userId": "u", "wabaId": "w",
            "accessToken": CIPHER.encrypt("tok"), **extra}


def registry(api: FakeTemplateApi, store: FakeTemplateStore) -> TemplateRegistry:
    return TemplateRegistry(db=None, cloud=api, cipher=CIPHER, store=store)  # type: ignore[arg-type]


class TestRegistry:
    """Sync and create ask Meta with the account's decrypted token and keep the store equal."""

    async def test_sync_counts_and_uses_the_token(self) -> None:
        store = FakeTemplateStore(template("gone"))
        api = FakeTemplateApi([meta("a"), meta("b", "PENDING")])
        counts = await registry(api, store).sync(account())
        assert (counts.added, counts.updated, counts.removed) == (2, 0, 1)
        assert api.tokens == ["tok"]
        assert sorted(t.name for t in store.docs.values()) == ["a", "b"]

    async def test_no_waba_id(self) -> None:
        with pytest.raises(TemplateError) as caught:
            await registry(FakeTemplateApi(), FakeTemplateStore()).sync(account(wabaId=None))
        assert caught.value.failure == Failure.NO_WABA
        assert "PATCH" in caught.value.message and "wabaId" in caught.value.message

    async def test_create_stores_pending_with_metas_id(self) -> None:
        store, api = FakeTemplateStore(), FakeTemplateApi()
        made = await registry(api, store).create(
            account(), name="hello", language="en_US", category="UTILITY", components=BODY)
        assert (made.status, made.meta_id, made.waba_id) == (TemplateStatus.PENDING, "555", "w")
        assert api.created == [{"name": "hello", "language": "en_US", "category": "UTILITY",
                                "components": BODY}]
        assert store.docs[made.id].meta_id == "555"

    async def test_a_refused_create_stores_nothing(self) -> None:
        store, api = FakeTemplateStore(), FakeTemplateApi()
        api.error = CloudApiError("Invalid parameter", code=100, http_status=400)
        with pytest.raises(TemplateError) as caught:
            await registry(api, store).create(
                account(), name="hello", language="en_US", category="UTILITY", components=BODY)
        assert caught.value.failure == Failure.REFUSED
        assert store.docs == {}

    @pytest.mark.parametrize(("error", "failure"), [
        (CloudApiError("expired", code=190, http_status=401), Failure.TOKEN),
        (CloudApiError("Cloud API unreachable: ClientConnectorError"), Failure.UNAVAILABLE),
        (CloudApiError("oops", code=131000, http_status=500), Failure.UNAVAILABLE),
    ])
    async def test_meta_failures(self, error: CloudApiError, failure: Failure) -> None:
        api = FakeTemplateApi()
        api.error = error
        with pytest.raises(TemplateError) as caught:
            await registry(api, FakeTemplateStore()).sync(account())
        assert caught.value.failure == failure

    async def test_a_second_create_of_the_same_template_is_refused_before_meta(self) -> None:
        store, api = FakeTemplateStore(template("hello")), FakeTemplateApi()
        with pytest.raises(TemplateError) as caught:
            await registry(api, store).create(
                account(), name="hello", language="en_US", category="UTILITY", components=BODY)
        assert caught.value.failure == Failure.EXISTS
        assert api.created == []


class TestNextCursor:
    """A list page has a next page only with ``paging.next``; its cursor is ``after``."""

    def test_cursor_from_cursors(self) -> None:
        assert next_cursor({"cursors": {"after": "A"}, "next": "https://x/?after=B"}) == "A"

    def test_cursor_from_the_next_url(self) -> None:
        assert next_cursor({"next": "https://x/v1/w/message_templates?limit=2&after=B"}) == "B"

    def test_last_page(self) -> None:
        assert next_cursor({"cursors": {"after": "A"}}) is None
        assert next_cursor(None) is None


class TestCreateRacingASync:
    """A sync that removes the PENDING copy while Meta answers the create: it is stored again."""

    async def test_stored_again_with_metas_id(self) -> None:
        store = FakeTemplateStore()

        class Racing(FakeTemplateApi):
            async def create_template(
                self, waba_id: str, token: str, template: dict[str, Any]
            ) -> dict[str, Any]:
                await store.sync("acc", [])  # Meta's list does not show it yet
                return await super().create_template(waba_id, token, template)

        made = await registry(Racing(), store).create(
            account(), name="hello", language="en_US", category="UTILITY", components=BODY)
        assert store.docs[made.id].meta_id == "555"
        assert store.docs[made.id].status == TemplateStatus.PENDING
