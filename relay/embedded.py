"""Embedded defaults: the MongoDB-wire server (nx-27017) and the local RabbitMQ.

The database runs as its own process with data, log and pid files under the data dir, on a free
port, and its URL is recorded in ``<data_dir>/mongodb.url`` so that every other ``relay`` command
run from the same directory reaches it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("relay.embedded")


class EmbeddedError(RuntimeError):
    """An embedded dependency could not be started; the message says how to fix it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"{what} did not start listening on {host}:{port} within {timeout:.0f} s")


@dataclass
class EmbeddedMongo:
    """A running nx-27017 server."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        url_file = self.data_dir / "mongodb.url"
        with contextlib.suppress(FileNotFoundError):
            if url_file.read_text().strip() == self.url:
                url_file.unlink()


def _nx_binary() -> str:
    candidate = Path(sys.executable).with_name("nx-27017")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nx-27017")
    if not found:
        raise EmbeddedError(
            "nx-27017 is not installed: run `make install` (it is Relay's `embedded` extra)"
        )
    return found


def start_mongo(data_dir: Path, *, port: int | None = None, record: bool = True) -> EmbeddedMongo:
    """Start nx-27017 with its own data dir, log and pid files; wait until it listens."""
    db_dir = data_dir / "mongodb"
    db_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        _nx_binary(), "--data-dir", str(db_dir), "--host", "127.0.0.1", "-p", str(port),
        "--log-file", str(data_dir / "mongodb.log"), "--pid-file", str(data_dir / "mongodb.pid"),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    wait_for_port("127.0.0.1", port, timeout=30, what="the embedded database (nx-27017)")
    url = f"mongodb://127.0.0.1:{port}/"
    if record:
        (data_dir / "mongodb.url").write_text(url + "\n")
    log.info("embedded_mongodb_started", url=url, data_dir=str(db_dir))
    return EmbeddedMongo(url=url, process=process, data_dir=data_dir)


def rabbitmq_answers(host: str = "127.0.0.1", port: int = 5672) -> bool:
    return port_open(host, port)


def ensure_rabbitmq(host: str = "127.0.0.1", port: int = 5672, *, timeout: float = 90) -> None:
    """Make sure the local RabbitMQ answers: start it if it is installed and down."""
    if rabbitmq_answers(host, port):
        return
    if shutil.which("rabbitmq-server") is None:
        raise EmbeddedError(
            "RabbitMQ is not running on 127.0.0.1:5672 and is not installed: run `make run` as "
            "root (it installs rabbitmq-server through apt), or set RELAY_AMQP_URL."
        )
    log.info("starting_rabbitmq")
    subprocess.run(["rabbitmq-server", "-detached"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(["rabbitmqctl", "await_startup"], check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode == 0 and rabbitmq_answers(host, port):
            return
        time.sleep(1)
    raise EmbeddedError(f"RabbitMQ did not start within {timeout:.0f} s; see `rabbitmqctl status`")


def _binaries(names: list[str]) -> str:
    for name in names:
        if not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"unsafe vhost name {name!r}")
    return "[" + ", ".join(f'<<"{name}">>' for name in names) + "]"


VHOST_TIMEOUT = 120.0


def create_vhosts(names: list[str]) -> list[str]:
    """Create RabbitMQ vhosts with full permissions for guest in one ``rabbitmqctl`` call
    (each call boots an Erlang VM, so batching matters); return their AMQP URLs."""
    script = (
        "[begin rabbit_vhost:add(V, <<\"relay\">>), "
        "rabbit_auth_backend_internal:set_permissions(<<\"guest\">>, V, <<\".*\">>, "
        "<<\".*\">>, <<\".*\">>, <<\"relay\">>) end || V <- " + _binaries(names) + "], ok."
    )
    try:
        subprocess.run(["rabbitmqctl", "-q", "eval", script], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=VHOST_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise EmbeddedError(
            f"RabbitMQ did not create vhosts within {VHOST_TIMEOUT:.0f} s; see "
            "`rabbitmqctl status` (a broker recovering many vhosts answers late)") from exc
    return [f"amqp://guest:guest@127.0.0.1:5672/{name}" for name in names]


def create_vhost(name: str) -> str:
    """Create one vhost (see :func:`create_vhosts`); return its AMQP URL."""
    return create_vhosts([name])[0]


def delete_vhosts(names: list[str]) -> None:
    if not names:
        return
    script = "[rabbit_vhost:delete(V, <<\"relay\">>) || V <- " + _binaries(names) + "], ok."
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(["rabbitmqctl", "-q", "eval", script], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=VHOST_TIMEOUT)


def list_vhosts(prefix: str) -> list[str]:
    """Names of the vhosts that start with ``prefix``."""
    done = subprocess.run(["rabbitmqctl", "-q", "list_vhosts", "--no-table-headers"],
                          check=False, capture_output=True, text=True)
    return [line.strip() for line in done.stdout.splitlines() if line.strip().startswith(prefix)]


def delete_vhost(name: str) -> None:
    delete_vhosts([name])


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
