"""Identifiers shaped like Meta's: ``wamid.`` ids, numeric media ids, display numbers."""

from __future__ import annotations

import base64
import hashlib
import secrets


def wamid(wa_id: str) -> str:
    """A fresh ``wamid.`` id laid out as Meta's: base64 of the recipient and a random hex tag."""
    recipient = wa_id.encode()[:20]
    tag = secrets.token_hex(9).upper().encode()
    raw = b"\x1c\x18" + bytes([len(recipient)]) + recipient + b"\x15\x02\x00\x11\x18\x12" + tag
    return "wamid." + base64.b64encode(raw + b"\x00").decode()


def media_id() -> str:
    """A fresh numeric media id (16 digits, as a string)."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def wa_id_of(to: str) -> str:
    """The WhatsApp id of a recipient: its digits, without ``+`` or separators."""
    return "".join(ch for ch in to if ch.isdigit())


def _digits(seed: str, count: int) -> str:
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return str(value % 10**count).zfill(count)


def display_number(phone_number_id: str) -> str:
    """The display number of a business phone number id (stable per id)."""
    return "1555" + _digits(phone_number_id, 7)


def waba_id(phone_number_id: str) -> str:
    """The WhatsApp Business Account id that owns a phone number id (stable per id)."""
    return "1" + _digits("waba:" + phone_number_id, 14)
