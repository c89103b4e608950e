"""Webhook bodies exactly as Meta posts them: status updates and inbound messages."""

from __future__ import annotations

import time
from typing import Any

from simulator.ids import display_number, wa_id_of, waba_id
from simulator.state import SendRecord

STATUS_ORDER = ("sent", "delivered", "read")


def envelope(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """Wrap a change ``value`` in the ``whatsapp_business_account`` envelope."""
    metadata = {
        "display_phone_number": display_number(phone_number_id),
        "phone_number_id": phone_number_id,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id(phone_number_id),
            "changes": [{
                "field": "messages",
                "value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
            }],
        }],
    }


def status_entry(
    send: SendRecord, status: str, *, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One ``statuses[]`` element for ``send``."""
    entry: dict[str, Any] = {
        "id": send.wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id_of(send.to),
    }
    if send.message_id is not None:
        entry["biz_opaque_callback_data"] = send.message_id
    if status in ("sent", "delivered"):
        entry["conversation"] = {"id": send.wamid[-32:], "origin": {"type": "service"}}
        entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if errors:
        entry["errors"] = errors
    return entry


def status_payload(
    send: SendRecord, status: str, *, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A status webhook carrying one status of ``send``."""
    return envelope(send.phone_number_id, {"statuses": [status_entry(send, status, errors=errors)]})


def inbound_message(sender: str, wamid: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """One ``messages[]`` element: ``{"from", "id", "timestamp", "type", <type>: body}``."""
    return {
        "from": sender, "id": wamid, "timestamp": str(int(time.time())), "type": kind, kind: body,
    }


def inbound_payload(
    phone_number_id: str, sender: str, name: str, message: dict[str, Any]
) -> dict[str, Any]:
    """An inbound-message webhook from ``sender`` (profile ``name``)."""
    contacts = [{"profile": {"name": name}, "wa_id": sender}]
    return envelope(phone_number_id, {"contacts": contacts, "messages": [message]})
