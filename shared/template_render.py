"""Template sends checked against the template and rendered: pure functions, no I/O.

A template (``shared.templates.Template``) holds Meta's definition: ``HEADER``/``BODY`` text and
``BUTTONS`` with ``{{1}}``, ``{{2}}`` … placeholders. A send carries Meta's send ``components``
(``header``/``body``/``button`` with ``parameters``). :func:`check_parameters` says whether the
parameters fit the placeholders; :func:`render_body` gives the body the customer sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
SEND_COMPONENT_TYPES = frozenset({"header", "body", "button"})
# Parameter types whose value is text, and the key holding it (Meta's send parameters).
TEXT_VALUES = {"text": "text", "currency": "fallback_value", "date_time": "fallback_value"}


class TemplateParametersInvalid(ValueError):
    """The send's parameters do not fit the template (``TEMPLATE_PARAMETERS_INVALID``)."""


def placeholders(text: Any) -> list[str]:
    """The distinct placeholders of ``text`` in order of first appearance (``["1", "2"]``)."""
    if not isinstance(text, str):
        return []
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def expected_counts(definition: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many parameters each send component needs: ``header``, ``body`` and
    ``button <index>`` (URL buttons with a placeholder), from the template's components."""
    counts: dict[str, int] = {"header": 0, "body": 0}
    for component in definition:
        kind = str(component.get("type", "")).lower()
        if kind in ("header", "body") and str(component.get("format", "TEXT")).upper() == "TEXT":
            counts[kind] = len(placeholders(component.get("text")))
        elif kind == "buttons":
            for index, button in enumerate(component.get("buttons") or []):
                found = len(placeholders(button.get("url"))) if isinstance(button, dict) else 0
                if found:
                    counts[f"button {index}"] = found
    return counts


def given_counts(components: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many parameters the send gives each component (URL buttons by their ``index``)."""
    counts: dict[str, int] = {"header": 0, "body": 0}
    for component in components:
        kind = str(component.get("type", "")).lower()
        parameters = component.get("parameters") or []
        if kind in ("header", "body"):
            counts[kind] = len(parameters)
        elif kind == "button" and str(component.get("sub_type", "")).lower() == "url":
            counts[f"button {component.get('index', 0)}"] = len(parameters)
    return counts


def check_parameters(
    definition: Iterable[Mapping[str, Any]], components: Sequence[Mapping[str, Any]]
) -> None:
    """Raise :class:`TemplateParametersInvalid` naming the component and the counts
    ("body expects 2 parameters, got 1") when the send does not fit the template."""
    problem = count_mismatch(definition, components) or format_problem(components)
    if problem is not None:
        raise TemplateParametersInvalid(problem)


def count_mismatch(
    definition: Iterable[Mapping[str, Any]], components: Sequence[Mapping[str, Any]]
) -> str | None:
    """The first component whose parameter count differs from its placeholders, said as
    "body expects 2 parameters, got 1"; None when every count fits (Meta: 132000)."""
    expected, given = expected_counts(definition), given_counts(components)
    for name in sorted(set(expected) | set(given), key=_order):
        want, got = expected.get(name, 0), given.get(name, 0)
        if want != got:
            noun = "parameter" if want == 1 else "parameters"
            return f"{name} expects {want} {noun}, got {got}"
    return None


def format_problem(components: Sequence[Mapping[str, Any]]) -> str | None:
    """A text parameter without its text (Meta: 132012), said by component and position."""
    for component in components:
        kind = str(component.get("type", "")).lower()
        for number, parameter in enumerate(component.get("parameters") or [], start=1):
            key = TEXT_VALUES.get(_kind(parameter))
            if key is not None and not parameter_text(parameter).strip():
                return f"{kind} parameter {number} ({_kind(parameter)}) needs a non-empty {key!r}"
    return None


def _order(name: str) -> tuple[int, str]:
    return ({"header": 0, "body": 1}.get(name, 2), name)


def _kind(parameter: Mapping[str, Any]) -> str:
    return str(parameter.get("type", "")).lower()


def parameter_text(parameter: Mapping[str, Any]) -> str:
    """The text a parameter puts in place of its placeholder (media parameters: empty)."""
    kind = _kind(parameter)
    if kind == "text":
        text = parameter.get("text")
        return text if isinstance(text, str) else ""
    if kind in TEXT_VALUES:
        inner = parameter.get(kind)
        return str(inner.get("fallback_value", "")) if isinstance(inner, dict) else ""
    return ""


def render_body(
    definition: Iterable[Mapping[str, Any]], components: Sequence[Mapping[str, Any]]
) -> str | None:
    """The template's BODY text with each placeholder replaced by its parameter's text, in
    order (what the customer sees); None when the template has no body."""
    body = next((c for c in definition if str(c.get("type", "")).lower() == "body"), None)
    if body is None or not isinstance(body.get("text"), str):
        return None
    sent = next((c for c in components if str(c.get("type", "")).lower() == "body"), None)
    parameters = (sent or {}).get("parameters") or []
    names = placeholders(body["text"])
    by_name = dict(zip(names, (parameter_text(p) for p in parameters), strict=False))
    # Named parameters ({{first_name}}) may come in any order: Meta matches them by name.
    by_name.update({str(p["parameter_name"]): parameter_text(p) for p in parameters
                    if p.get("parameter_name")})

    def fill(match: re.Match[str]) -> str:
        return by_name.get(match.group(1), match.group(0))

    return PLACEHOLDER.sub(fill, str(body["text"]))


def check_shape(components: Any) -> None:
    """Raise ``ValueError`` (naming the place) unless ``components`` has Meta's send shape:
    a list of ``header``/``body``/``button`` objects whose ``parameters`` are typed objects."""
    if not isinstance(components, list):
        raise ValueError("components must be a list")
    for index, component in enumerate(components):
        where = f"components[{index}]"
        if not isinstance(component, dict):
            raise ValueError(f"{where} must be an object")
        if str(component.get("type", "")).lower() not in SEND_COMPONENT_TYPES:
            raise ValueError(f"{where}.type must be header, body or button")
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list):
            raise ValueError(f"{where}.parameters must be a list")
        for number, parameter in enumerate(parameters):
            if not isinstance(parameter, dict) or not isinstance(parameter.get("type"), str):
                raise ValueError(f"{where}.parameters[{number}] must be an object with a type")
        if str(component["type"]).lower() == "button":
            if str(component.get("sub_type", "")).lower() not in ("url", "quick_reply",
                                                                   "copy_code", "flow"):
                raise ValueError(f"{where}.sub_type must be url, quick_reply, copy_code or flow")
            if not str(component.get("index", "")).isdigit():
                raise ValueError(f"{where}.index must be a button position (0, 1, …)")
