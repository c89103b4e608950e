"""Template sends against the template's placeholders, and the body the customer sees."""

from __future__ import annotations

from typing import Any

import pytest

from shared.template_render import (
    TemplateParametersInvalid,
    check_parameters,
    check_shape,
    expected_counts,
    placeholders,
    render_body,
)

pytestmark = pytest.mark.unit

DEFINITION: list[dict[str, Any]] = [
    {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
    {"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships {{2}} today."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {"type": "BUTTONS", "buttons": [
        {"type": "QUICK_REPLY", "text": "Stop"},
        {"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"}]},
]


def text(*values: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value} for value in values]


def send(header: int = 1, body: int = 2, button: int = 1) -> list[dict[str, Any]]:
    components: list[dict[str, Any]] = []
    if header:
        components.append({"type": "header", "parameters": text(*["42"] * header)})
    if body:
        components.append({"type": "body", "parameters": text(*["Ada", "#42", "x"][:body])})
    if button:
        components.append({"type": "button", "sub_type": "url", "index": "1",
                           "parameters": text(*["abc"] * button)})
    return components


def refusal(components: list[dict[str, Any]], definition: Any = None) -> str:
    with pytest.raises(TemplateParametersInvalid) as caught:
        check_parameters(DEFINITION if definition is None else definition, components)
    return str(caught.value)


class TestPlaceholders:
    """Distinct placeholders are counted once, numbered or named."""

    def test_distinct_in_order(self) -> None:
        assert placeholders("{{2}} {{1}} {{2}} {{ name }}") == ["2", "1", "name"]

    def test_counts_per_component(self) -> None:
        assert expected_counts(DEFINITION) == {"header": 1, "body": 2, "button 1": 1}

    def test_media_header_takes_no_text_placeholders(self) -> None:
        assert expected_counts([{"type": "HEADER", "format": "IMAGE"}]) == {"header": 0,
                                                                           "body": 0}


class TestCheckParameters:
    """Counts must equal the placeholders of each component; text parameters need text."""

    def test_fitting_send_passes(self) -> None:
        check_parameters(DEFINITION, send())

    def test_body_short_names_component_and_counts(self) -> None:
        assert refusal(send(body=1)) == "body expects 2 parameters, got 1"

    def test_body_missing(self) -> None:
        assert refusal(send(body=0)) == "body expects 2 parameters, got 0"

    def test_header_extra(self) -> None:
        assert refusal(send(header=2)) == "header expects 1 parameter, got 2"

    def test_url_button_missing(self) -> None:
        assert refusal(send(button=0)) == "button 1 expects 1 parameter, got 0"

    def test_parameters_for_a_template_without_placeholders(self) -> None:
        assert refusal(send(header=0, button=0), [{"type": "BODY", "text": "Hi"}]) == \
            "body expects 0 parameters, got 2"

    def test_quick_reply_payload_is_not_counted(self) -> None:
        components = [*send(), {"type": "button", "sub_type": "quick_reply", "index": "0",
                                "parameters": [{"type": "payload", "payload": "STOP"}]}]
        check_parameters(DEFINITION, components)

    def test_empty_text_parameter(self) -> None:
        components = send()
        components[1]["parameters"][0] = {"type": "text", "text": " "}
        assert "body parameter 1" in refusal(components)

    def test_currency_needs_fallback_value(self) -> None:
        components = send()
        components[1]["parameters"][1] = {"type": "currency", "currency": {"code": "USD"}}
        assert "body parameter 2 (currency)" in refusal(components)


class TestRender:
    """The body with each placeholder replaced by its parameter's text."""

    def test_rendered(self) -> None:
        assert render_body(DEFINITION, send()) == "Hello Ada, your order #42 ships #42 today."

    def test_currency_and_date_fallbacks(self) -> None:
        body = [{"type": "body", "parameters": [
            {"type": "currency", "currency": {"fallback_value": "$5", "code": "USD",
                                              "amount_1000": 5000}},
            {"type": "date_time", "date_time": {"fallback_value": "May 1"}}]}]
        assert render_body([{"type": "BODY", "text": "Pay {{1}} by {{2}}"}], body) == \
            "Pay $5 by May 1"

    def test_named_parameters_by_name(self) -> None:
        body = [{"type": "body", "parameters": [
            {"type": "text", "parameter_name": "order", "text": "#42"},
            {"type": "text", "parameter_name": "name", "text": "Ada"}]}]
        assert render_body([{"type": "BODY", "text": "Hi {{name}}, order {{order}}"}],
                           body) == "Hi Ada, order #42"

    def test_no_body(self) -> None:
        assert render_body([{"type": "HEADER", "format": "IMAGE"}], []) is None


class TestShape:
    """Components must have Meta's send shape; the error names the place."""

    @pytest.mark.parametrize(("components", "where"), [
        ("body", "components must be a list"),
        ([{"type": "footer"}], "components[0].type"),
        ([{"type": "body", "parameters": "Ada"}], "components[0].parameters"),
        ([{"type": "body", "parameters": [{"text": "Ada"}]}], "components[0].parameters[0]"),
        ([{"type": "button", "index": "0", "parameters": []}], "components[0].sub_type"),
        ([{"type": "button", "sub_type": "url", "parameters": []}], "components[0].index"),
    ])
    def test_refused(self, components: Any, where: str) -> None:
        with pytest.raises(ValueError, match=where.replace("[", r"\[").replace("]", r"\]")):
            check_shape(components)

    def test_meta_shapes_pass(self) -> None:
        check_shape(send())
