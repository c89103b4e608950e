"""The Cloud API's error answer: ``{"error": {message, type, code, error_data, fbtrace_id}}``."""

from __future__ import annotations

import secrets
from typing import Any

# HTTP status Meta answers with for an error code (reference §2); 400 when not listed.
HTTP_STATUS_OF: dict[int, int] = {
    0: 401, 190: 401, 10: 403, 368: 403, 131031: 403,
    131000: 500, 2: 503, 131016: 503, 131057: 503, 132000: 404,
    **{code: 403 for code in range(200, 300)},
}

TITLES: dict[int, str] = {
    0: "AuthException",
    2: "Service temporarily unavailable",
    4: "Application request limit reached",
    10: "Permission denied",
    100: "Invalid parameter",
    190: "Error validating access token",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131031: "Business account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131051: "Unsupported message type",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Template param count mismatch",
    132001: "Template does not exist",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is paused",
    132016: "Template is disabled",
    133010: "Phone number not registered",
}


def default_http_status(code: int) -> int:
    """The HTTP status Meta uses for ``code``."""
    return HTTP_STATUS_OF.get(code, 400)


def title_of(code: int) -> str:
    return TITLES.get(code, "Error")


class SimError(Exception):
    """An error the simulator answers with, in Meta's shape."""

    def __init__(
        self, code: int, message: str | None = None, *, details: str | None = None,
        http_status: int | None = None, subcode: int | None = None,
    ) -> None:
        self.code = code
        self.message = message or title_of(code)
        self.details = details or self.message
        self.http_status = http_status or default_http_status(code)
        self.subcode = subcode
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body Meta sends for this error."""
        error: dict[str, Any] = {
            "message": f"(#{self.code}) {self.message}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": fbtrace_id(),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}

    def webhook_error(self) -> dict[str, Any]:
        """The shape errors take inside a ``failed`` status webhook."""
        return {
            "code": self.code, "title": title_of(self.code), "message": self.message,
            "error_data": {"details": self.details},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }


def invalid(details: str) -> SimError:
    """Code 100, HTTP 400: an invalid or missing parameter."""
    return SimError(100, "Invalid parameter", details=details)


def bad_token() -> SimError:
    return SimError(
        190, "Error validating access token: Session has expired.",
        details="The access token could not be decrypted or has expired.", subcode=463,
    )


def fbtrace_id() -> str:
    return secrets.token_urlsafe(16)[:23]
