"""The simulator's in-memory state: sends, counts, failure rules, media and read receipts."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import SimError, default_http_status
from simulator.ids import wa_id_of

WINDOW_SECONDS = 24 * 3600


class ControlError(ValueError):
    """A control-API request the simulator cannot act on (answered 400)."""


@dataclass
class FailureRule:
    """The next ``times`` sends that match answer ``code`` (after ``delay_seconds``).

    With no ``code`` the matching sends only hang for ``delay_seconds`` and then succeed.
    With ``asynchronous`` the send is accepted and a ``failed`` status webhook follows.
    """

    code: int | None = None
    times: int = 1
    http_status: int | None = None
    to: str | None = None
    phone_number_id: str | None = None
    delay_seconds: float = 0.0
    subcode: int | None = None
    details: str | None = None
    asynchronous: bool = False

    @classmethod
    def from_json(cls, body: Any) -> FailureRule:
        """Build a rule from the ``/_sim/fail`` body; raise :class:`ControlError` if invalid."""
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        times = _optional_int(body, "times")
        rule = cls(
            code=_optional_int(body, "code"),
            times=1 if times is None else times,
            http_status=_optional_int(body, "httpStatus"),
            to=_optional_str(body, "to"),
            phone_number_id=_optional_str(body, "phoneNumberId"),
            delay_seconds=float(_number(body, "delaySeconds")),
            subcode=_optional_int(body, "subcode"),
            details=_optional_str(body, "details"),
            asynchronous=bool(body.get("async", False)),
        )
        if rule.code is None and rule.delay_seconds <= 0:
            raise ControlError("give a `code`, a `delaySeconds` > 0, or both")
        if rule.times < 1:
            raise ControlError("`times` must be at least 1")
        if rule.asynchronous and rule.code is None:
            raise ControlError("`async` needs a `code`")
        if rule.http_status is not None and not 400 <= rule.http_status <= 599:
            raise ControlError("`httpStatus` must be between 400 and 599")
        return rule

    def matches(self, to: str, phone_number_id: str) -> bool:
        if self.to is not None and wa_id_of(self.to) != wa_id_of(to):
            return False
        return self.phone_number_id is None or self.phone_number_id == phone_number_id

    def error(self) -> SimError | None:
        if self.code is None:
            return None
        status = self.http_status or default_http_status(self.code)
        return SimError(self.code, details=self.details, http_status=status, subcode=self.subcode)


@dataclass
class SendRecord:
    """One accepted send, as ``/_sim/sends`` lists it."""

    wamid: str
    phone_number_id: str
    to: str
    type: str
    message_id: str | None
    at: float
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "wamid": self.wamid, "phoneNumberId": self.phone_number_id, "to": self.to,
            "type": self.type, "messageId": self.message_id, "at": self.at,
            "payload": self.payload,
        }


@dataclass
class MediaItem:
    """An uploaded (or injected inbound) media file."""

    id: str
    data: bytes
    mime_type: str
    sha256: str
    phone_number_id: str


@dataclass
class SimTemplate:
    """A message template of one WABA, as ``GET /{waba-id}/message_templates`` lists it."""

    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    status: str = "PENDING"
    rejected_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "name": self.name, "language": self.language, "status": self.status,
            "category": self.category, "components": self.components,
        }
        if self.rejected_reason is not None:
            body["rejected_reason"] = self.rejected_reason
        return body


@dataclass
class SimConfig:
    """Run-time behaviour, changed by ``/_sim/config``."""

    auto_statuses: bool = True
    status_delay_seconds: float = 0.05
    duplicate_statuses: bool = False
    reorder_statuses: bool = False
    template_review_seconds: float = 0.2
    # Meta's messaging rules, off by default: the 24-hour window (131047 for a non-template
    # send to a user who has not written within 24 h) and template sends checked against the
    # registry (132001 unknown, 132015/132016 paused/disabled, 132000 count, 132012 format).
    enforce_window: bool = False
    enforce_templates: bool = False

    def update(self, body: Any) -> None:
        """Apply a ``/_sim/config`` body; raise :class:`ControlError` if invalid."""
        if not isinstance(body, dict):
            raise ControlError("the body must be a JSON object")
        for key, attr in (("autoStatuses", "auto_statuses"),
                          ("duplicateStatuses", "duplicate_statuses"),
                          ("reorderStatuses", "reorder_statuses"),
                          ("enforceWindow", "enforce_window"),
                          ("enforceTemplates", "enforce_templates")):
            if key in body:
                if not isinstance(body[key], bool):
                    raise ControlError(f"`{key}` must be true or false")
                setattr(self, attr, body[key])
        if "statusDelaySeconds" in body:
            delay = _number(body, "statusDelaySeconds")
            if delay < 0:
                raise ControlError("`statusDelaySeconds` must be >= 0")
            self.status_delay_seconds = float(delay)
        if "templateReviewSeconds" in body:
            review = _number(body, "templateReviewSeconds")
            if review < 0:
                raise ControlError("`templateReviewSeconds` must be >= 0")
            self.template_review_seconds = float(review)

    def to_json(self) -> dict[str, Any]:
        return {
            "autoStatuses": self.auto_statuses, "statusDelaySeconds": self.status_delay_seconds,
            "duplicateStatuses": self.duplicate_statuses,
            "reorderStatuses": self.reorder_statuses,
            "templateReviewSeconds": self.template_review_seconds,
            "enforceWindow": self.enforce_window, "enforceTemplates": self.enforce_templates,
        }


@dataclass
class SimState:
    """Everything the simulator remembers; ``reset()`` forgets it all."""

    default_status_delay: float = 0.05
    config: SimConfig = field(default_factory=SimConfig)
    sends: list[SendRecord] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    rules: list[FailureRule] = field(default_factory=list)
    media: dict[str, MediaItem] = field(default_factory=dict)
    reads: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Template registry: WABA id -> (name, language) -> template, in creation order; names to
    # reject at review (name -> reason).
    templates: dict[str, dict[tuple[str, str], SimTemplate]] = field(default_factory=dict)
    rejections: dict[str, str] = field(default_factory=dict)
    # When each user last wrote to each number: (phone number id, wa_id) -> epoch seconds.
    last_inbound: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config.status_delay_seconds = self.default_status_delay

    def reset(self) -> None:
        self.config = SimConfig(status_delay_seconds=self.default_status_delay)
        for bucket in (self.sends, self.counts, self.rules, self.media, self.reads, self.rejected):
            bucket.clear()
        self.templates.clear()
        self.rejections.clear()
        self.last_inbound.clear()

    def template(self, waba_id: str, name: str, language: str) -> dict[str, Any] | None:
        """The WABA's template ``name`` in ``language`` as Meta lists it, or None."""
        found = self.templates.get(waba_id, {}).get((name, language))
        return found.to_json() if found is not None else None

    def template_anywhere(self, name: str, language: str) -> dict[str, Any] | None:
        """The template ``name`` in ``language`` of any WABA (a send names only its phone
        number, which the simulator does not tie to a WABA)."""
        for waba_id in self.templates:
            found = self.template(waba_id, name, language)
            if found is not None:
                return found
        return None

    def record_inbound(self, phone_number_id: str, sender: str, at: float) -> None:
        """The user ``sender`` wrote to ``phone_number_id`` at ``at``: its window opens."""
        key = (phone_number_id, wa_id_of(sender))
        self.last_inbound[key] = max(at, self.last_inbound.get(key, 0.0))

    def window_open(self, phone_number_id: str, to: str, now: float) -> bool:
        """Whether ``to`` wrote to ``phone_number_id`` within the last 24 hours."""
        last = self.last_inbound.get((phone_number_id, wa_id_of(to)))
        return last is not None and now - last < WINDOW_SECONDS

    def templates_of(self, waba_id: str) -> list[SimTemplate]:
        """The WABA's templates, oldest first."""
        return list(self.templates.get(waba_id, {}).values())

    def add_template(self, template: SimTemplate) -> None:
        self.templates.setdefault(template.waba_id, {})[
            (template.name, template.language)] = template

    def take_rule(self, to: str, phone_number_id: str) -> FailureRule | None:
        """The first rule matching this send, with one use consumed (dropped when spent)."""
        for index, rule in enumerate(self.rules):
            if rule.matches(to, phone_number_id):
                rule.times -= 1
                if rule.times <= 0:
                    del self.rules[index]
                return rule
        return None

    def record_send(self, record: SendRecord) -> None:
        self.sends.append(record)
        if record.message_id is not None:
            self.counts[record.message_id] += 1

    def record_read(self, phone_number_id: str, wamid: str) -> None:
        self.reads.append({"wamid": wamid, "phoneNumberId": phone_number_id, "at": time.time()})

    def send_of(self, wamid: str) -> SendRecord | None:
        return next((send for send in reversed(self.sends) if send.wamid == wamid), None)


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(f"`{key}` must be an integer")
    return value


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ControlError(f"`{key}` must be a string")
    return value


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"`{key}` must be a number")
    return float(value)
