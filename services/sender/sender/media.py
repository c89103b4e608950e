"""Fetching external media (``mediaUrl``) without becoming an SSRF proxy.

The guard resolves the name itself and refuses loopback, private, link-local, multicast,
reserved and cloud-metadata addresses (also IPv4 hidden in IPv6) unless the host or address is
in ``RELAY_MEDIA_FETCH_ALLOWLIST``. It then connects to the vetted address only (a pinned
resolver: no second lookup can rebind it), follows at most three redirects by hand, checking each
hop the same way, stops reading past the size cap, and takes the type from the bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from shared.media import KIND_OF, SNIFF_BYTES, sniff

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Awaitable[list[str]]]

MAX_REDIRECTS = 3
METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"),
            ipaddress.ip_network("100.100.100.200/32"))
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class MediaRefused(Exception):
    """The media cannot be fetched or used; ``str()`` is the message's ``errorMessage``."""


def _unwrap(ip: IPAddress) -> IPAddress:
    """IPv4 carried inside IPv6 (mapped ``::ffff:a.b.c.d``, compatible, 6to4, NAT64) as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in ipaddress.ip_network("64:ff9b::/96") or (
            int(ip) >> 32 == 0 and int(ip) > 1
        ):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress) -> str | None:
    """Why a fetch may not reach ``ip`` (None if it is a public address)."""
    ip = _unwrap(ip)
    if any(ip in net for net in METADATA if net.version == ip.version):
        return "a cloud metadata address"
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (ip.version == 4 and ip in SHARED_ADDRESS_SPACE, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


@dataclass(frozen=True)
class Allowlist:
    """Hosts and networks a fetch may reach even though they are not public (tests, intranets)."""

    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Allowlist:
        hosts, networks = set(), []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, ip: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(_unwrap(ip) in net or ip in net for net in self.networks)


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def vet(url: str, allowlist: Allowlist, resolve: Resolve = system_resolve) -> tuple[str, str]:
    """Check one hop: return ``(host, ip)`` to connect to, or raise :class:`MediaRefused`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise MediaRefused(f"mediaUrl must be an https URL; got {url[:200]!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        addresses = [str(literal)] if literal else await resolve(host, port)
    except OSError as exc:
        raise MediaRefused(
            f"mediaUrl host {host} does not resolve ({exc.strerror or exc})"
        ) from exc
    if not addresses:
        raise MediaRefused(f"mediaUrl host {host} does not resolve")
    ips = sorted((ipaddress.ip_address(a.split("%")[0]) for a in addresses),
                 key=lambda ip: ip.version)
    for ip in ips:  # every answer must pass: a mixed answer is a rebinding attempt
        reason = refusal(ip)
        if reason and not allowlist.allows(host, ip):
            raise MediaRefused(f"mediaUrl points to {reason} ({ip}); refused")
    if parts.scheme != "https" and not allowlist.allows(host, ips[0]):
        raise MediaRefused(f"mediaUrl must be an https URL; got {url[:200]!r}")
    return host, str(ips[0])


class PinnedResolver(AbstractResolver):
    """Answers only the vetted address for the vetted host: the connection cannot be rebound."""

    def __init__(self, host: str, ip: str) -> None:
        self._host, self._ip = host, ip

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.lower() != self._host:
            raise OSError(f"unvetted host {host}")
        ip = ipaddress.ip_address(self._ip)
        fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        return [ResolveResult(hostname=host, host=self._ip, port=port, family=fam, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class FetchedMedia:
    data: bytes
    mime_type: str


class MediaFetcher:
    """Fetches ``mediaUrl`` bytes through the guard; one short-lived session per hop."""

    def __init__(self, *, allowlist: Sequence[str], max_bytes: int, timeout: float = 15.0,
                 resolve: Resolve = system_resolve,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        """``ssl_context`` replaces the system's trust store (tests serving HTTPS locally)."""
        self._ssl: ssl.SSLContext | bool = ssl_context or True
        self._allow = Allowlist.parse(allowlist)
        self._max = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._resolve = resolve

    async def fetch(self, url: str, message_type: str) -> FetchedMedia:
        """The media at ``url``, checked to be a ``message_type`` file Relay accepts."""
        for _ in range(MAX_REDIRECTS + 1):
            host, ip = await vet(url, self._allow, self._resolve)
            status, location, data = await self._get(url, host, ip)
            if status in (301, 302, 303, 307, 308):
                if not location:
                    raise MediaRefused("mediaUrl redirected without a Location")
                url = urljoin(url, location)
                continue
            if status >= 400:
                raise MediaRefused(f"mediaUrl answered HTTP {status}")
            return self._checked(data, message_type)
        raise MediaRefused(f"mediaUrl redirected more than {MAX_REDIRECTS} times")

    async def _get(self, url: str, host: str, ip: str) -> tuple[int, str | None, bytes]:
        connector = aiohttp.TCPConnector(resolver=PinnedResolver(host, ip), use_dns_cache=False,
                                         limit=1, force_close=True)
        kwargs: dict[str, Any] = {"allow_redirects": False, "headers": {"Accept": "*/*"},
                                  "ssl": self._ssl}
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                             trust_env=False) as session, \
                    session.get(url, **kwargs) as response:
                if response.status in (301, 302, 303, 307, 308) or response.status >= 400:
                    return response.status, response.headers.get("Location"), b""
                if (response.content_length or 0) > self._max:
                    raise MediaRefused(f"media is larger than {self._max} bytes; refused")
                return response.status, None, await self._read_capped(response)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise MediaRefused(f"mediaUrl could not be fetched ({type(exc).__name__})") from exc

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max:
                raise MediaRefused(f"media is larger than {self._max} bytes; refused")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _checked(data: bytes, message_type: str) -> FetchedMedia:
        mime = sniff(data[:SNIFF_BYTES])
        if mime is None or mime not in KIND_OF:
            raise MediaRefused("media at mediaUrl is not a supported file type")
        if KIND_OF[mime] != message_type:
            raise MediaRefused(f"media at mediaUrl is {mime}, not a {message_type.lower()}")
        return FetchedMedia(data, mime)
