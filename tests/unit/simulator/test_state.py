"""Failure rules match by recipient and number, are used up, and bad rules are refused."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.state import ControlError, FailureRule, SendRecord, SimConfig, SimState

pytestmark = pytest.mark.unit


def _record(message_id: str | None) -> SendRecord:
    return SendRecord(wamid="wamid.A", phone_number_id="1", to="155", type="text",
                      message_id=message_id, at=0.0, payload={})


class TestFailureRuleParsing:
    """``/_sim/fail`` bodies become rules; nonsense is a :class:`ControlError`."""

    def test_full_rule(self) -> None:
        rule = FailureRule.from_json({"code": 130429, "times": 2, "httpStatus": 429,
                                      "to": "+1555", "phoneNumberId": "9", "delaySeconds": 0})
        assert (rule.code, rule.times, rule.http_status, rule.to) == (130429, 2, 429, "+1555")
        error = rule.error()
        assert error is not None and (error.code, error.http_status) == (130429, 429)

    def test_default_http_status_from_code(self) -> None:
        error = FailureRule.from_json({"code": 131000}).error()
        assert error is not None and error.http_status == 500

    def test_delay_only_has_no_error(self) -> None:
        assert FailureRule.from_json({"delaySeconds": 2}).error() is None

    @pytest.mark.parametrize("body", [
        {}, {"times": 3}, {"code": "130429"}, {"code": 4, "times": 0},
        {"code": 4, "httpStatus": 200}, {"delaySeconds": "1"}, {"async": True, "delaySeconds": 1},
        [1, 2],
    ])
    def test_refused(self, body: Any) -> None:
        with pytest.raises(ControlError):
            FailureRule.from_json(body)


class TestFailureRuleMatching:
    """A rule applies to its recipient and number only, ``times`` times, then is gone."""

    def test_recipient_normalised(self) -> None:
        rule = FailureRule(code=131026, to="+1 555-0001")
        assert rule.matches("15550001", "any")
        assert not rule.matches("15550002", "any")

    def test_phone_number_id(self) -> None:
        rule = FailureRule(code=4, phone_number_id="A")
        assert rule.matches("1555", "A") and not rule.matches("1555", "B")

    def test_used_up_in_order(self) -> None:
        state = SimState()
        state.rules += [FailureRule(code=1, times=2), FailureRule(code=2)]
        taken = [state.take_rule("1555", "A") for _ in range(4)]
        assert [rule.code if rule else None for rule in taken] == [1, 1, 2, None]
        assert state.rules == []

    def test_non_matching_rule_kept(self) -> None:
        state = SimState()
        state.rules.append(FailureRule(code=1, to="999"))
        assert state.take_rule("1555", "A") is None
        assert len(state.rules) == 1


class TestStateAndConfig:
    """Counts follow ``biz_opaque_callback_data``; config validates; reset forgets everything."""

    def test_counts_per_message(self) -> None:
        state = SimState()
        for message_id in ("m1", "m1", "m2", None):
            state.record_send(_record(message_id))
        assert dict(state.counts) == {"m1": 2, "m2": 1}

    def test_config_update(self) -> None:
        config = SimConfig()
        config.update({"autoStatuses": False, "statusDelaySeconds": 0.5})
        assert (config.auto_statuses, config.status_delay_seconds) == (False, 0.5)

    @pytest.mark.parametrize("body", [{"autoStatuses": "no"}, {"statusDelaySeconds": -1}, []])
    def test_config_refused(self, body: Any) -> None:
        with pytest.raises(ControlError):
            SimConfig().update(body)

    def test_reset(self) -> None:
        state = SimState(default_status_delay=0.2)
        state.record_send(_record("m1"))
        state.rules.append(FailureRule(code=1))
        state.config.update({"autoStatuses": False, "statusDelaySeconds": 3})
        state.reset()
        assert (state.sends, dict(state.counts), state.rules) == ([], {}, [])
        assert (state.config.auto_statuses, state.config.status_delay_seconds) == (True, 0.2)
