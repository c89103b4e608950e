"""Secrets at rest: access tokens encrypted with ``RELAY_SECRET_KEY``, API keys hashed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

API_KEY_PREFIX = "rk_"


class TokenCipher:
    """Fernet (AES-128-CBC + HMAC) keyed by a SHA-256 of the configured secret key."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "stored access token cannot be decrypted with RELAY_SECRET_KEY"
            ) from exc


def new_api_key() -> str:
    """A fresh API key: prefix plus 32 random bytes, URL-safe."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The stored form of an API key (SHA-256 hex; keys are random, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def signature(secret: str, body: bytes) -> str:
    """Meta's ``X-Hub-Signature-256`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of ``X-Hub-Signature-256`` over the raw bytes."""
    if not header:
        return False
    return hmac.compare_digest(signature(secret, body), header.strip())
