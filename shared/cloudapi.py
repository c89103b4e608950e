"""Client of the WhatsApp Cloud API (Meta's, or the simulator), and its error classification.

Every call has a timeout. Errors are classified by ``code`` as the reference tabulates, never by
the text: see :func:`classify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from shared.headers import bearer


class ErrorClass(StrEnum):
    RETRY = "retry"            # transient: back off and try again
    PAIR_LIMIT = "pair_limit"  # 131056: back off this recipient only
    AUTH = "auth"              # 0/190: the account needs a new token
    FINAL = "final"            # will not succeed by retrying


RETRYABLE_CODES = frozenset({4, 80007, 130429, 131000, 2, 131016, 131057})
# Where Meta serves media downloads (``GET /{media-id}`` answers a URL there), over https only.
META_MEDIA_HOSTS = ("lookaside.fbsbx.com",)
META_MEDIA_SUFFIXES = (".fbsbx.com",)
AUTH_CODES = frozenset({0, 190})
TEMPLATE_FIELDS = "id,name,language,status,category,components,rejected_reason"
TEMPLATE_PAGE_SIZE = 100
MAX_TEMPLATE_PAGES = 1000


def classify(code: int | None, http_status: int | None = None) -> ErrorClass:
    """Retryable or final, from the error ``code`` (the HTTP status only when no code came)."""
    if code is None:
        return ErrorClass.RETRY if http_status is None or http_status >= 500 or http_status == 429 \
            else ErrorClass.FINAL
    if code in AUTH_CODES:
        return ErrorClass.AUTH
    if code == 131056:
        return ErrorClass.PAIR_LIMIT
    if code in RETRYABLE_CODES:
        return ErrorClass.RETRY
    return ErrorClass.FINAL


@dataclass(frozen=True)
class CloudApiError(Exception):
    """An error answer (or no answer) from the Cloud API."""

    message: str
    code: int | None = None
    http_status: int | None = None
    details: str | None = None
    # The request may have reached Meta and been accepted, only the answer was lost (a timeout
    # or a dropped connection; not a refused connect): a retry could be a second send.
    in_doubt: bool = False

    @property
    def kind(self) -> ErrorClass:
        return classify(self.code, self.http_status)

    def readable(self) -> str:
        """For ``errorMessage``: the code first, then what Meta said."""
        code = f"({self.code}) " if self.code is not None else ""
        extra = f": {self.details}" if self.details and self.details not in self.message else ""
        return f"{code}{self.message}{extra}"[:1000]

    def __str__(self) -> str:
        return self.readable()


class CloudApi:
    """Thin async client; one instance per process, sharing one connection pool."""

    def __init__(self, base_url: str, version: str, *, timeout: float = 15.0) -> None:
        self._base = base_url.rstrip("/")
        self._version = version
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def url(self, *parts: str) -> str:
        return "/".join([self._base, self._version, *parts])

    async def _call(self, method: str, url: str, token: str, **kwargs: Any) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("CloudApi.start() was not awaited")
        headers = bearer(token)
        try:
            async with self._session.request(method, url, headers=headers, **kwargs) as response:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
                if response.status >= 400 or not isinstance(body, dict) or "error" in body:
                    raise _error_from(response.status, body)
                return body
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise CloudApiError(
                f"Cloud API unreachable: {type(exc).__name__}",
                in_doubt=not isinstance(exc, aiohttp.ClientConnectorError),
            ) from exc
        except ValueError as exc:  # aiohttp refuses a header with control characters
            raise CloudApiError("the access token holds characters an HTTP header cannot carry",
                                code=190, http_status=400) from exc

    async def send(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> str:
        """Send one message; return its ``wamid``."""
        body = await self._call(
            "POST", self.url(phone_number_id, "messages"), token,
            json={"messaging_product": "whatsapp", "recipient_type": "individual", **payload},
        )
        try:
            return str(body["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise CloudApiError("Cloud API answer had no message id", http_status=200) from exc

    async def mark_read(self, phone_number_id: str, token: str, wamid: str) -> None:
        await self._call(
            "POST", self.url(phone_number_id, "messages"), token,
            json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    async def phone_number(self, phone_number_id: str, token: str) -> dict[str, Any]:
        """``GET /{version}/{phone-number-id}``: proves the token works for that number."""
        return await self._call("GET", self.url(phone_number_id), token)

    async def list_templates(
        self, waba_id: str, token: str, *, page_size: int = TEMPLATE_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """Every template of the WABA: ``GET /{version}/{waba-id}/message_templates``, page
        after page while the answer has ``paging.next``, by its ``after`` cursor (asked of this
        client's own base URL: the token never follows a URL an answer names)."""
        templates: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(MAX_TEMPLATE_PAGES):
            params = {"fields": TEMPLATE_FIELDS, "limit": str(page_size)}
            if after:
                params["after"] = after
            body = await self._call("GET", self.url(waba_id, "message_templates"), token,
                                    params=params)
            data = body.get("data")
            templates += [t for t in data if isinstance(t, dict)] if isinstance(data, list) else []
            following = next_cursor(body.get("paging"))
            if following is None or following == after:
                return templates
            after = following
        raise CloudApiError(f"message_templates had more than {MAX_TEMPLATE_PAGES} pages")

    async def create_template(
        self, waba_id: str, token: str, template: dict[str, Any]
    ) -> dict[str, Any]:
        """``POST /{version}/{waba-id}/message_templates`` → ``{id, status, category}``."""
        return await self._call("POST", self.url(waba_id, "message_templates"), token,
                                json=template)

    async def upload_media(
        self, phone_number_id: str, token: str, data: bytes, mime_type: str, filename: str
    ) -> str:
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=filename, content_type=mime_type)
        body = await self._call("POST", self.url(phone_number_id, "media"), token, data=form)
        return str(body["id"])

    async def resolve_media(self, media_id: str, token: str) -> dict[str, Any]:
        """``GET /{version}/{media-id}`` → url, mime_type, sha256, file_size."""
        return await self._call("GET", self.url(media_id), token)

    def download_allowed(self, url: str) -> bool:
        """Whether ``url`` is the Cloud API's own origin or Meta's media host (https): the
        Bearer token is never sent anywhere else, whatever a resolve answer says."""
        parts, base = urlsplit(url), urlsplit(self._base)
        host = (parts.hostname or "").lower()
        if (parts.scheme, host, parts.port) == (base.scheme, (base.hostname or "").lower(),
                                                base.port):
            return True
        return parts.scheme == "https" and parts.port in (None, 443) and (
            host in META_MEDIA_HOSTS or host.endswith(META_MEDIA_SUFFIXES))

    async def download(self, url: str, token: str, *, max_bytes: int) -> bytes:
        """Download media bytes with the Bearer token, refusing more than ``max_bytes`` and any
        URL outside the Cloud API's origin and Meta's media hosts (a final error)."""
        if self._session is None:
            raise RuntimeError("CloudApi.start() was not awaited")
        if not self.download_allowed(url):
            raise CloudApiError(f"media URL host {urlsplit(url).hostname!r} is not WhatsApp's; "
                                "refused", http_status=400)
        headers = bearer(token)
        try:
            async with self._session.get(url, headers=headers) as response:
                if response.status >= 400:
                    raise CloudApiError(f"media download answered {response.status}",
                                        http_status=response.status)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > max_bytes:
                        raise CloudApiError(f"media larger than {max_bytes} bytes", code=131053)
                    chunks.append(chunk)
                return b"".join(chunks)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise CloudApiError(f"media download failed: {type(exc).__name__}") from exc


def next_cursor(paging: Any) -> str | None:
    """The ``after`` cursor of a Graph API list page when there is a next page (``paging.next``
    present), from ``paging.cursors.after`` or else from the ``next`` URL's query; else None."""
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        return after
    found = parse_qs(urlsplit(str(paging["next"])).query).get("after")
    return found[0] if found else None


def _error_from(status: int, body: Any) -> CloudApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return CloudApiError(f"Cloud API answered HTTP {status}", http_status=status)
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details") if isinstance(
        error.get("error_data"), dict) else None
    return CloudApiError(
        str(error.get("message") or f"HTTP {status}"),
        code=int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        http_status=status,
        details=details,
    )
