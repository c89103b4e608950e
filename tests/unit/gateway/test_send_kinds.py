"""``POST /messages`` bodies of the new kinds, and the template checks of the accept path
(against a fake template store behind ``shared.templates.TemplateStore``)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.accept import SendMessageBody
from gateway.errors import ApiError
from gateway.parsing import validate
from gateway.send_checks import SendChecks
from shared.templates import Template, TemplateStatus, template_id
from tests.unit.fakes import FakeTemplateStore

pytestmark = pytest.mark.unit

ACCOUNT = {"_id": "acc-1", "userId": "u-1", "wabaId": "waba-1"}
TEMPLATE = {"name": "order_update", "language": "en_US", "components": [
    {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}]}
BUTTONS = {"type": "button", "body": {"text": "Pick"},
           "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}


def body(**fields: Any) -> dict[str, Any]:
    return {"whatsappAccountId": "acc-1", "to": "+15551234567", **fields}


def refusal(data: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        validate(SendMessageBody, data)
    assert caught.value.status == 400 and caught.value.code == "VALIDATION_ERROR"
    return caught.value


class TestKindsAccepted:
    """Each kind with its own part validates."""

    @pytest.mark.parametrize("data", [
        body(type="Template", template=TEMPLATE),
        body(type="Template", template={"name": "hello_world", "language": "en"}),
        body(type="Interactive", interactive=BUTTONS),
        body(type="Location", location={"latitude": -90, "longitude": 180, "name": "Pole"}),
        body(type="Reaction", reaction={"messageId": "m-1", "emoji": "👍"}),
        body(type="Reaction", reaction={"messageId": "m-1", "emoji": ""}),
    ])
    def test_valid(self, data: dict[str, Any]) -> None:
        validate(SendMessageBody, data)


class TestWrongParts:
    """A part that does not belong to the type, or a missing one, is a 400 naming it."""

    @pytest.mark.parametrize(("data", "field"), [
        (body(type="Text", content="hi", template=TEMPLATE), "template"),
        (body(type="Image", mediaId="m", location={"latitude": 1, "longitude": 1}), "location"),
        (body(type="Template"), "template"),
        (body(type="Template", template=TEMPLATE, content="hi"), "content"),
        (body(type="Reaction", reaction={"messageId": "m", "emoji": "👍"}, content="x"),
         "content"),
        (body(type="Location", location={"latitude": 1, "longitude": 1}, mediaId="m"),
         "mediaId"),
        (body(type="Interactive", interactive=BUTTONS, reaction={"messageId": "m",
                                                                 "emoji": "👍"}), "reaction"),
        (body(type="Unsupported", content="x"), "Unsupported"),
    ])
    def test_refused(self, data: dict[str, Any], field: str) -> None:
        assert field in refusal(data).message


class TestPartRules:
    """Each part's own rules, the field named in ``details``."""

    @pytest.mark.parametrize(("part", "field"), [
        ({"latitude": 91, "longitude": 0}, "location.latitude"),
        ({"latitude": 0, "longitude": -180.5}, "location.longitude"),
        ({"latitude": "1", "longitude": 0}, "location.latitude"),
        ({"longitude": 0}, "location.latitude"),
    ])
    def test_location(self, part: dict[str, Any], field: str) -> None:
        error = refusal(body(type="Location", location=part))
        assert error.details[0]["field"] == field

    @pytest.mark.parametrize(("part", "field"), [
        ({"messageId": "m", "emoji": "ok"}, "reaction.emoji"),
        ({"messageId": "", "emoji": "👍"}, "reaction.messageId"),
        ({"emoji": "👍"}, "reaction.messageId"),
    ])
    def test_reaction(self, part: dict[str, Any], field: str) -> None:
        assert refusal(body(type="Reaction", reaction=part)).details[0]["field"] == field

    @pytest.mark.parametrize(("part", "field"), [
        ({"name": "x", "language": "English"}, "template.language"),
        ({"name": "", "language": "en"}, "template.name"),
        ({"name": "x", "language": "en", "components": [{"type": "footer"}]},
         "template.components"),
    ])
    def test_template(self, part: dict[str, Any], field: str) -> None:
        assert refusal(body(type="Template", template=part)).details[0]["field"] == field

    def test_interactive_names_the_place(self) -> None:
        bad = {**BUTTONS, "body": {"text": "x" * 1025}}
        error = refusal(body(type="Interactive", interactive=bad))
        assert error.details[0]["field"] == "interactive"
        assert "interactive.body.text" in error.message


def stored(status: TemplateStatus = TemplateStatus.APPROVED, text: str = "Hi {{1}}!") -> Template:
    return Template(_id=template_id("acc-1", "order_update", "en_US"),
                    whatsapp_account_id="acc-1", user_id="u-1", name="order_update",
                    language="en_US", status=status,
                    components=[{"type": "BODY", "text": text}])


class Syncs:
    """An on-demand sync that adds ``adds`` to the store and counts its calls."""

    def __init__(self, store: FakeTemplateStore, *adds: Template) -> None:
        self.store, self.adds, self.calls = store, adds, 0

    async def __call__(self, account_id: str) -> object:
        self.calls += 1
        for template in self.adds:
            await self.store.add(template)
        return None


async def check(store: FakeTemplateStore, sync: Syncs | None = None,
                template: dict[str, Any] | None = None) -> dict[str, Any]:
    checks = SendChecks(db=None, templates=store, sync=sync)  # type: ignore[arg-type]
    sent = validate(SendMessageBody, body(type="Template", template=template or TEMPLATE))
    return await checks.parts("u-1", ACCOUNT, sent)


async def code_of(store: FakeTemplateStore, sync: Syncs | None = None,
                  template: dict[str, Any] | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await check(store, sync, template)
    assert caught.value.status == 400
    return caught.value


class TestTemplateChecks:
    """Known, approved, fitting: stored with the rendered body; else the contract's code."""

    async def test_approved_renders_the_body(self) -> None:
        parts = await check(FakeTemplateStore(stored()))
        assert parts["content"] == "Hi Ada!"
        assert parts["template"] == TEMPLATE

    async def test_unknown_syncs_once_then_not_found(self) -> None:
        store = FakeTemplateStore()
        sync = Syncs(store)
        error = await code_of(store, sync)
        assert error.code == "TEMPLATE_NOT_FOUND" and sync.calls == 1
        assert "order_update" in error.message

    async def test_found_after_the_sync(self) -> None:
        store = FakeTemplateStore()
        sync = Syncs(store, stored())
        assert (await check(store, sync))["content"] == "Hi Ada!"
        assert sync.calls == 1

    async def test_known_template_needs_no_sync(self) -> None:
        store = FakeTemplateStore(stored())
        sync = Syncs(store)
        await check(store, sync)
        assert sync.calls == 0

    @pytest.mark.parametrize("status", [TemplateStatus.PENDING, TemplateStatus.REJECTED,
                                        TemplateStatus.PAUSED, TemplateStatus.DISABLED])
    async def test_not_approved(self, status: TemplateStatus) -> None:
        error = await code_of(FakeTemplateStore(stored(status)))
        assert error.code == "TEMPLATE_NOT_APPROVED" and status.value in error.message

    async def test_parameters_that_do_not_fit(self) -> None:
        error = await code_of(FakeTemplateStore(stored(text="Hi {{1}}, order {{2}}")))
        assert error.code == "TEMPLATE_PARAMETERS_INVALID"
        assert "body expects 2 parameters, got 1" in error.message

    async def test_failing_sync_means_not_found(self) -> None:
        store = FakeTemplateStore()

        async def broken(account_id: str) -> object:
            raise RuntimeError("Meta is down")

        checks = SendChecks(db=None, templates=store, sync=broken)  # type: ignore[arg-type]
        sent = validate(SendMessageBody, body(type="Template", template=TEMPLATE))
        with pytest.raises(ApiError) as caught:
            await checks.parts("u-1", ACCOUNT, sent)
        assert caught.value.code == "TEMPLATE_NOT_FOUND"
