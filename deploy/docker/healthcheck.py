#!/usr/bin/env python3
"""Container HEALTHCHECK: exit 0 when the running service answers ``/health/live``.

The service is ``RELAY_SERVICE`` when set, else the last argument of PID 1 (the image runs
``relay serve <service>``). Its port is ``RELAY_<SERVICE>_PORT``, else the contract's default.
Standard library only: it runs in the final image, where nothing else is guaranteed.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

DEFAULT_PORTS = {"gateway": 8080, "ingest": 8081, "stats": 8082, "sender": 8083}


def service_name(env: Mapping[str, str], cmdline: bytes) -> str:
    """The service this container runs: ``RELAY_SERVICE`` or PID 1's last argument."""
    named = env.get("RELAY_SERVICE", "").strip()
    if named:
        return named
    args = [arg.decode() for arg in cmdline.split(b"\0") if arg]
    return args[-1] if args else "gateway"


def health_url(env: Mapping[str, str], service: str) -> str:
    """``http://127.0.0.1:<port>/health/live`` for ``service``."""
    if service not in DEFAULT_PORTS:
        raise ValueError(f"unknown service {service!r}; expected one of {sorted(DEFAULT_PORTS)}")
    port = int(env.get(f"RELAY_{service.upper()}_PORT", DEFAULT_PORTS[service]))
    return f"http://127.0.0.1:{port}/health/live"


def check(url: str, timeout: float = 3.0) -> bool:
    """True when ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    cmdline = Path("/proc/1/cmdline").read_bytes() if Path("/proc/1/cmdline").exists() else b""
    try:
        url = health_url(os.environ, service_name(os.environ, cmdline))
    except ValueError as exc:
        print(f"relay-healthcheck: {exc}", file=sys.stderr)
        return 1
    return 0 if check(url) else 1


if __name__ == "__main__":
    sys.exit(main())
