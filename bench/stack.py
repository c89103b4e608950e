"""The stack a benchmark runs on: its own vhost, its own embedded database, the simulator with
no artificial delays, and each service as its own OS process (``relay serve X``, ``relay sim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.progress import step
from relay import admin, embedded
from shared.broker import Broker
from shared.db import Database, connect, ensure_indexes
from shared.secrets import TokenCipher
from shared.settings import Settings, env_for, load_settings

REPO = Path(__file__).resolve().parents[1]
PORT_VARS = {"gateway": "RELAY_GATEWAY_PORT", "ingest": "RELAY_INGEST_PORT",
             "stats": "RELAY_STATS_PORT", "sender": "RELAY_SENDER_PORT", "sim": "RELAY_SIM_PORT"}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant, by id (``su`` puts rabbitmqctl's Erlang VM in a
    session of its own, out of reach of a process-group kill)."""
    tree = _children()
    todo, found = [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    for target in reversed(found):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)


def rabbitmqctl(*args: str, timeout: float = 60.0) -> None:
    """Run ``rabbitmqctl -q ARGS`` in its own process group, killed whole after ``timeout``.

    The CLI's default distribution ports (35672-35682) run out when crashed runs leave
    rabbitmqctl processes behind, so it gets a port range of its own.
    """
    env = {**os.environ, "RABBITMQ_CTL_DIST_PORT_MIN": "37100",
           "RABBITMQ_CTL_DIST_PORT_MAX": "37199"}
    process = subprocess.Popen(["rabbitmqctl", "-q", *args], env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.wait()
        raise
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, args, stderr=err)


async def _create_vhost(name: str, patience: float = 180.0) -> str:
    """A vhost with full permissions for guest, retried while rabbitmqctl fails or hangs."""
    deadline = time.monotonic() + patience
    while True:
        try:
            await asyncio.to_thread(rabbitmqctl, "add_vhost", name)
            await asyncio.to_thread(rabbitmqctl, "set_permissions", "-p", name, "guest",
                                    ".*", ".*", ".*")
            return f"amqp://guest:guest@127.0.0.1:5672/{name}"
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            if time.monotonic() > deadline:
                raise
            step(f"rabbitmqctl failed ({type(exc).__name__}); retrying the vhost")
            await asyncio.sleep(3)


async def _connect_broker(url: str, shards: int, patience: float = 90.0) -> Broker:
    """Connect (and declare the topology), retried: a fresh vhost may take a while to open."""
    deadline = time.monotonic() + patience
    while True:
        broker = Broker(url, shards=shards)
        try:
            await broker.connect(timeout=20)
            return broker
        except (TimeoutError, ConnectionError, OSError) as exc:
            with contextlib.suppress(Exception):
                await broker.close()
            if time.monotonic() > deadline:
                raise
            step(f"the broker did not open the vhost yet ({type(exc).__name__}); retrying")
            await asyncio.sleep(2)


@dataclass
class Proc:
    """One running service process."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]

    def rss_mb(self) -> float:
        """Resident memory (VmRSS) in MiB; NaN once the process is gone."""
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")


@dataclass
class Tenant:
    """A user with an all-scope key and its connected accounts."""

    user_id: str
    api_key: str
    accounts: list[dict[str, Any]]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


@dataclass
class BenchStack:
    """Start with :meth:`open`, end with :meth:`close` (processes, database, vhost, files)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="relay-bench-")))
    vhost: str = field(default_factory=lambda: f"relay-bench-{uuid.uuid4().hex[:10]}")
    amqp_url: str | None = None  # an existing vhost to use (not created, not deleted)
    procs: dict[str, Proc] = field(default_factory=dict)
    settings: Settings = field(init=False)
    mongo: embedded.EmbeddedMongo = field(init=False)
    client: Any = field(init=False)
    db: Database = field(init=False)
    broker: Broker = field(init=False)
    http: aiohttp.ClientSession = field(init=False)
    cipher: TokenCipher = field(init=False)

    async def open(self) -> None:
        """Vhost, database, clients; everything is undone if any step fails."""
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise

    async def _open(self) -> None:
        if not self.amqp_url:
            embedded.ensure_rabbitmq()
        amqp_url = self.amqp_url or await _create_vhost(self.vhost)
        self.mongo = embedded.start_mongo(self.root, record=False)
        port = embedded.free_port
        self.settings = load_settings(
            mongodb_url=self.mongo.url, mongodb_db="relay", amqp_url=amqp_url,
            data_dir=self.root / "relay", gateway_port=port(), ingest_port=port(),
            stats_port=port(), sender_port=port(), sim_port=port(),
            sim_status_delay_seconds=0, pacing_enabled=False,
            api_rate_per_second=1_000_000, api_rate_burst=1_000_000, log_level="INFO",
        )
        self.client = connect(self.mongo.url)
        self.db = self.client["relay"]
        await ensure_indexes(self.db)
        self.broker = await _connect_broker(amqp_url, self.settings.send_shards)
        if self.amqp_url:
            self.vhost = self.amqp_url.rsplit("/", 1)[-1]
            await self._purge_all()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180))
        self.cipher = TokenCipher(self.settings.secret_key)
        step(f"stack: vhost {self.vhost}, database {self.mongo.url}, files {self.root}")

    async def close(self) -> None:
        for key in list(self.procs):
            self.stop(key)
        for name in ("http", "broker", "client"):
            if hasattr(self, name):
                with contextlib.suppress(Exception):
                    await getattr(self, name).close()
        if hasattr(self, "mongo"):
            self.mongo.stop()
        if not self.amqp_url:
            with contextlib.suppress(subprocess.SubprocessError):
                await asyncio.to_thread(rabbitmqctl, "delete_vhost", self.vhost)
        shutil.rmtree(self.root, ignore_errors=True)

    async def _purge_all(self) -> None:
        """A reused vhost starts empty: whatever an earlier run left in its queues goes."""
        from shared import topology

        channel = await self.broker.connection.channel()
        try:
            for name in topology.all_queues(self.settings.send_shards):
                with contextlib.suppress(Exception):
                    queue = await channel.get_queue(name, ensure=False)
                    await asyncio.wait_for(queue.purge(), 15)
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    # processes -----------------------------------------------------------------------------

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.procs[key].port}"

    def start(self, name: str, *, key: str | None = None, env: dict[str, str] | None = None,
              port: int | None = None, command: list[str] | None = None) -> Proc:
        """Start a service (``relay serve NAME``/``relay sim``) and wait until it is live."""
        key = key or name
        extra = dict(env or {})
        if port is None:
            port = self._default_port(name) if key == name else embedded.free_port()
        if name in PORT_VARS:
            extra[PORT_VARS[name]] = str(port)
        full_env = {**env_for(self.settings), **extra}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), full_env.get("PYTHONPATH", "")) if p)
        argv = command or [sys.executable, "-m", "relay.cli",
                           *(["sim"] if name == "sim" else ["serve", name])]
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{key}.log").open("ab") as log:
            popen = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.root)
        proc = self.procs[key] = Proc(key, port, popen)
        self._wait_live(proc)
        return proc

    def _default_port(self, name: str) -> int:
        return {"gateway": self.settings.gateway_port, "ingest": self.settings.ingest_port,
                "stats": self.settings.stats_port, "sender": self.settings.sender_port,
                "sim": self.settings.sim_port}.get(name) or embedded.free_port()

    def _wait_live(self, proc: Proc, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: "
                                   f"{self.log_tail(proc.name)}")
            with contextlib.suppress(OSError), urllib.request.urlopen(
                f"http://127.0.0.1:{proc.port}/health/live", timeout=1
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{proc.name} was not live within {timeout:.0f} s")

    def stop(self, key: str, timeout: float = 20.0) -> None:
        proc = self.procs.pop(key, None)
        if proc is None or proc.popen.poll() is not None:
            return
        os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()

    def log_tail(self, key: str, lines: int = 15) -> str:
        path = self.root / "logs" / f"{key}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # simulator and tenants ------------------------------------------------------------------

    async def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.request(method, self.url("sim") + path, json=body) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def tenant(self, *, accounts: int = 1, rate_per_minute: int = 60,
                     daily_limit: int = 100_000_000, db: Database | None = None) -> Tenant:
        """A user, an all-scope key and ``accounts`` connected accounts, stored directly."""
        target = self.db if db is None else db
        created = await admin.create_user(target, f"bench-{uuid.uuid4().hex[:6]}")
        docs = []
        for _ in range(accounts):
            number = str(uuid.uuid4().int)[:15]
            docs.append(await admin.create_account(
                target, self.cipher, user_id=created["userId"], name="bench",
                phone_number_id=number, display_phone_number=f"+1{number[:10]}",
                access_token="bench-token", daily_limit=daily_limit,
                rate_per_minute=rate_per_minute, enforce_customer_window=False,
            ))
        return Tenant(created["userId"], created["apiKey"], docs)

    async def wait_for(self, check: Any, *, timeout: float, what: str,
                       interval: float = 0.25) -> Any:
        """Poll ``check()`` until truthy; raise TimeoutError naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = await check()
            if last:
                return last
            await asyncio.sleep(interval)
        raise TimeoutError(f"{what} not reached within {timeout:.0f} s (last: {last!r})")
