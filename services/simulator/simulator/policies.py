"""Meta's messaging rules, each switched on by ``/_sim/config`` (off by default): the 24-hour
customer service window and template sends checked against the WABA's template registry."""

from __future__ import annotations

from typing import Any

from shared.template_render import count_mismatch, format_problem
from simulator.errors import SimError
from simulator.state import SimState

WINDOW_DETAILS = ("Message failed to send because more than 24 hours have passed since the "
                  "customer last replied to this number.")
# A template Meta knows but will not send, by status (132001 for one not approved yet).
STATUS_CODES = {"PAUSED": 132015, "DISABLED": 132016}


def check_send(state: SimState, phone_number_id: str, payload: dict[str, Any],
               now: float) -> None:
    """Raise the :class:`SimError` Meta answers when ``payload`` breaks an enforced rule."""
    if payload.get("type") == "template":
        if state.config.enforce_templates:
            check_template(state, payload["template"])
    elif state.config.enforce_window and not state.window_open(
            phone_number_id, str(payload.get("to", "")), now):
        raise SimError(131047, details=WINDOW_DETAILS)


def check_template(state: SimState, sent: dict[str, Any]) -> None:
    name, language = str(sent.get("name")), str((sent.get("language") or {}).get("code"))
    template = state.template_anywhere(name, language)
    if template is None or template.get("status") not in ("APPROVED", *STATUS_CODES):
        raise SimError(132001, "Template name does not exist in the translation",
                       details=f"template name ({name}) does not exist in {language}")
    if template["status"] in STATUS_CODES:
        raise SimError(STATUS_CODES[template["status"]],
                       details=f"template {name} ({language}) is {template['status']}")
    components = [c for c in sent.get("components") or [] if isinstance(c, dict)]
    mismatch = count_mismatch(template.get("components") or [], components)
    if mismatch is not None:
        raise SimError(132000, details=f"Number of parameters does not match: {mismatch}")
    problem = format_problem(components)
    if problem is not None:
        raise SimError(132012, details=problem)
