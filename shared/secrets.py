"""Secrets at rest: access tokens encrypted with ``RELAY_SECRET_KEY`` (rotatable), API keys
hashed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

API_KEY_PREFIX = "rk_"


class TokenCipher:
    """Fernet (AES-128-CBC + HMAC) keyed by a SHA-256 of each configured secret key.

    ``secret_key`` may list several keys, comma-separated, newest first (``RELAY_SECRET_KEY``
    rotation): :meth:`encrypt` uses the newest, :meth:`decrypt` accepts any, :meth:`rotate`
    re-encrypts a stored token under the newest.
    """

    def __init__(self, secret_key: str) -> None:
        keys = [key.strip() for key in secret_key.split(",") if key.strip()]
        if not keys:
            raise ValueError("RELAY_SECRET_KEY holds no key")
        self._newest = _fernet(keys[0])
        self._any = MultiFernet([_fernet(key) for key in keys])

    def encrypt(self, token: str) -> str:
        """``token`` encrypted under the newest key."""
        return self._newest.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The plaintext of ``stored``, encrypted under any of the keys."""
        try:
            return self._any.decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "stored access token cannot be decrypted with any key of RELAY_SECRET_KEY"
            ) from exc

    def is_current(self, stored: str) -> bool:
        """True when ``stored`` is already encrypted under the newest key."""
        try:
            self._newest.decrypt(stored.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, stored: str) -> str:
        """``stored`` re-encrypted under the newest key (``ValueError`` if no key opens it)."""
        try:
            return self._any.rotate(stored.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "stored access token cannot be decrypted with any key of RELAY_SECRET_KEY"
            ) from exc


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


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
