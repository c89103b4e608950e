"""Runs Relay's services and the simulator as separate OS processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from shared.settings import Settings, env_for

SERVICES = ("gateway", "sender", "ingest", "stats")


def port_of(settings: Settings, name: str) -> int:
    return {
        "gateway": settings.gateway_port, "ingest": settings.ingest_port,
        "stats": settings.stats_port, "sender": settings.sender_port, "sim": settings.sim_port,
    }[name]


@dataclass
class Stack:
    """Processes of one test: ``start("sender")``, ``kill("sender")``, ``stop()``."""

    settings: Settings
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = env_for(self.settings)
        env.update(self.extra_env)
        return env

    def start(self, name: str, *, instance: str | None = None, port: int | None = None) -> None:
        """Start ``relay serve <name>`` (or ``relay sim``) and wait until it is live."""
        key = instance or name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "relay.cli"]
        command += ["sim"] if name == "sim" else ["serve", name]
        env = self.env()
        port = port or port_of(self.settings, name)
        if name == "sender":
            env["RELAY_SENDER_PORT"] = str(port)
        log = (self.log_dir / f"{key}.log").open("ab")
        self.processes[key] = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_live(key, port)

    def wait_live(self, key: str, port: int, timeout: float = 30.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[key]
            if process.poll() is not None:
                raise RuntimeError(f"{key} exited with {process.returncode}; see {self.log_dir}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{key} did not become live within {timeout} s")

    def start_all(self, *, sim: bool = True) -> None:
        if sim:
            self.start("sim")
        for name in SERVICES:
            self.start(name)

    def kill(self, key: str) -> None:
        """``kill -9``: no cleanup, no goodbye."""
        process = self.processes.pop(key)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def terminate(self, key: str, timeout: float = 15.0) -> None:
        process = self.processes.pop(key)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop(self) -> None:
        for key in list(self.processes):
            self.terminate(key)

    def logs(self, key: str) -> str:
        path = self.log_dir / f"{key}.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Api:
    """A small JSON client for the gateway."""

    def __init__(self, session: aiohttp.ClientSession, base: str, key: str) -> None:
        self.session = session
        self.base = base.rstrip("/") + "/api/v1"
        self.key = key

    async def call(self, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        async with self.session.request(method, self.base + path, headers=headers, **kwargs) as r:  # type: ignore[arg-type]
            body = await r.json(content_type=None)
            return r.status, body


def running_stack(settings: Settings, log_dir: Path) -> Iterator[Stack]:
    """For a fixture: a :class:`Stack`, every process stopped afterwards."""
    processes = Stack(settings=settings, log_dir=log_dir)
    yield processes
    processes.stop()
