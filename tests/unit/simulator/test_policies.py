"""The simulator's Meta rules: new kinds validated, and (when switched on) the 24-hour window
and template sends checked against the registry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from simulator.errors import SimError
from simulator.policies import check_send
from simulator.state import SimState, SimTemplate
from simulator.validation import validate_send

pytestmark = pytest.mark.unit

PNID, USER = "106540352242922", "+16505551234"


def payload(kind: str, part: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": USER, "type": kind, kind: part}


def template(name: str = "order_update", params: int = 1, **fields: Any) -> dict[str, Any]:
    components = [{"type": "body",
                   "parameters": [{"type": "text", "text": f"p{i}"} for i in range(params)]}]
    return payload("template", {"name": name, "language": {"code": "en_US"},
                                "components": components, **fields})


def state(*, window: bool = False, templates: bool = False, status: str = "APPROVED") -> SimState:
    sim = SimState()
    sim.config.update({"enforceWindow": window, "enforceTemplates": templates})
    sim.add_template(SimTemplate(id="1", waba_id="waba-1", name="order_update",
                                 language="en_US", category="UTILITY", status=status,
                                 components=[{"type": "BODY", "text": "Hello {{1}}"}]))
    return sim


def code(sim: SimState, body: dict[str, Any], now: float | None = None) -> int:
    with pytest.raises(SimError) as caught:
        check_send(sim, PNID, body, time.time() if now is None else now)
    return caught.value.code


class TestNewKindsValidated:
    """Interactive, location and reaction payloads are checked as Meta checks them."""

    @pytest.mark.parametrize("body", [
        payload("location", {"latitude": 52.5, "longitude": 13.4}),
        payload("reaction", {"message_id": "wamid.X", "emoji": "👍"}),
        payload("reaction", {"message_id": "wamid.X", "emoji": ""}),
        payload("interactive", {"type": "button", "body": {"text": "Pick"}, "action": {
            "buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}),
    ])
    def test_accepted(self, body: dict[str, Any]) -> None:
        validate_send(body)

    @pytest.mark.parametrize("body", [
        payload("location", {"latitude": 95, "longitude": 0}),
        payload("reaction", {"emoji": "👍"}),
        payload("reaction", {"message_id": "wamid.X", "emoji": "yes"}),
        payload("interactive", {"type": "button", "body": {"text": "Pick"}, "action": {}}),
    ])
    def test_refused_with_code_100(self, body: dict[str, Any]) -> None:
        with pytest.raises(SimError) as caught:
            validate_send(body)
        assert caught.value.code == 100


class TestWindow:
    """With ``enforceWindow`` a non-template send needs a message from the user within 24 h."""

    def test_off_by_default(self) -> None:
        check_send(state(), PNID, payload("text", {"body": "hi"}), time.time())

    def test_never_wrote(self) -> None:
        assert code(state(window=True), payload("text", {"body": "hi"})) == 131047

    def test_wrote_recently(self) -> None:
        sim = state(window=True)
        sim.record_inbound(PNID, USER, time.time() - 3600)
        check_send(sim, PNID, payload("text", {"body": "hi"}), time.time())

    def test_wrote_more_than_a_day_ago(self) -> None:
        sim = state(window=True)
        sim.record_inbound(PNID, USER, time.time() - 25 * 3600)
        assert code(sim, payload("reaction", {"message_id": "w", "emoji": "👍"})) == 131047

    def test_templates_go_outside_the_window(self) -> None:
        check_send(state(window=True), PNID, template(), time.time())


class TestTemplates:
    """With ``enforceTemplates`` a template send must name an approved template and fit it."""

    def test_fitting_send_passes(self) -> None:
        check_send(state(templates=True), PNID, template(), time.time())

    def test_unknown_name(self) -> None:
        assert code(state(templates=True), template(name="nope")) == 132001

    def test_pending_is_unknown_to_sends(self) -> None:
        assert code(state(templates=True, status="PENDING"), template()) == 132001

    @pytest.mark.parametrize(("status", "expected"), [("PAUSED", 132015),
                                                      ("DISABLED", 132016)])
    def test_paused_and_disabled(self, status: str, expected: int) -> None:
        assert code(state(templates=True, status=status), template()) == expected

    def test_parameter_count(self) -> None:
        assert code(state(templates=True), template(params=2)) == 132000

    def test_parameter_format(self) -> None:
        body = template()
        body["template"]["components"][0]["parameters"][0] = {"type": "text", "text": ""}
        assert code(state(templates=True), body) == 132012

    def test_off_by_default(self) -> None:
        check_send(state(), PNID, template(name="nope"), time.time())
