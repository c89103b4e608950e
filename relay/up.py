"""``relay up``: the whole system on embedded defaults, in the foreground, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from relay import admin, embedded
from relay.demo_templates import DEMO_WABA_ID, seed_demo_templates, template_curl
from shared.db import Database, connect, ensure_indexes
from shared.secrets import TokenCipher
from shared.settings import Settings, env_for, load_settings

DEMO_PHONE_NUMBER_ID = "106540352242922"
DEMO_DISPLAY_NUMBER = "+15550783881"
SERVICES = ("gateway", "sender", "ingest", "stats")


def say(text: str) -> None:
    print(f"relay: {text}", file=sys.stderr, flush=True)


class Supervisor:
    """Child processes of ``relay up``, stopped in reverse order."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, args: list[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "relay.cli", *args], env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.children.append((name, process))

    def dead(self) -> list[str]:
        return [name for name, process in self.children if process.poll() is not None]

    def stop(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in reversed(self.children):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in 20 s; killing it")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_ready(name: str, port: int, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health/ready"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise embedded.EmbeddedError(f"{name} was not ready within {timeout:.0f} s; see its log")


async def ensure_demo(settings: Settings, mongo_url: str) -> dict[str, Any]:
    """Create (once) a demo user, an all-scope key and a connected demo account."""
    record = settings.data_dir / "demo.json"
    client = connect(mongo_url)
    try:
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        if record.exists():
            demo: dict[str, Any] = json.loads(record.read_text())
            if await db.accounts.find_one({"_id": demo.get("accountId")}) is not None:
                await demo_templates(settings, db, demo["accountId"])
                return demo
        user = await admin.create_user(db, "demo")
        account = await admin.create_account(
            db, TokenCipher(settings.secret_key), user_id=user["userId"], name="Demo account",
            phone_number_id=DEMO_PHONE_NUMBER_ID, display_phone_number=DEMO_DISPLAY_NUMBER,
            access_token="demo-access-token", waba_id=DEMO_WABA_ID,
            # The README's text curl goes to a number that never wrote: no window to check.
            enforce_customer_window=False,
        )
        demo = {**user, "accountId": account["_id"]}
        record.write_text(json.dumps(demo) + "\n")
        os.chmod(record, 0o600)
        await demo_templates(settings, db, demo["accountId"])
        return demo
    finally:
        await client.close()


async def demo_templates(settings: Settings, db: Database, account_id: str) -> None:
    """The demo account's WABA id (kept from earlier runs) and, with the simulator, its two
    approved templates; a failure here is reported, not fatal."""
    await db.accounts.update_one({"_id": account_id, "wabaId": {"$exists": False}},
                                 {"$set": {"wabaId": DEMO_WABA_ID}})
    if not settings.uses_simulator:
        return
    try:
        await seed_demo_templates(settings, db, account_id)
    except Exception as exc:  # the demo still works without its templates
        say(f"could not seed the demo templates: {exc!r}")


def banner(settings: Settings, demo: dict[str, Any], sim: bool) -> str:
    api = f"{settings.gateway_url}/api/v1"
    lines = [
        "",
        "Relay is up.",
        f"  API              {api}   (docs: {settings.gateway_url}/docs)",
        f"  Webhooks         http://127.0.0.1:{settings.ingest_port}/webhooks/whatsapp",
        f"  Stats metrics    http://127.0.0.1:{settings.stats_port}/metrics",
        f"  Sender metrics   http://127.0.0.1:{settings.sender_port}/metrics",
        f"  WhatsApp API     {settings.cloud_api_url}" + ("   (built-in simulator)" if sim else ""),
        f"  API key          {demo['apiKey']}",
        f"  Account id       {demo['accountId']}",
        "",
        "Try it:",
        f"  export RELAY={api} KEY={demo['apiKey']} ACCOUNT={demo['accountId']}",
        '  curl -s -X POST "$RELAY/messages" -H "Authorization: Bearer $KEY" \\',
        "    -H 'Content-Type: application/json' \\",
        '    -d "{\\"whatsappAccountId\\":\\"$ACCOUNT\\",\\"to\\":\\"+15551234567\\",'
        '\\"type\\":\\"Text\\",\\"content\\":\\"Hello from Relay\\"}"',
        *(["", "A template (approved in the simulator; list them at "
           "$RELAY/whatsapp-accounts/$ACCOUNT/templates):", *template_curl()] if sim else []),
        "",
        "Logs are in " + str(settings.data_dir / "logs") + ". Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def up(settings: Settings) -> None:
    """Start the embedded parts and the four services; block until Ctrl-C; stop cleanly."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    mongo = None
    if settings.mongodb_url is None:
        mongo = embedded.start_mongo(settings.data_dir)
        settings = load_settings(**{**settings.model_dump(), "mongodb_url": mongo.url})
    if settings.amqp_url.startswith("amqp://guest:guest@127.0.0.1:5672"):
        embedded.ensure_rabbitmq()
    sim = settings.uses_simulator
    supervisor = Supervisor(env_for(settings), log_dir)
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if sim:
            supervisor.spawn("sim", ["sim"])
            wait_ready("simulator", settings.sim_port)
        for name in SERVICES:
            supervisor.spawn(name, ["serve", name])
        ports = {"gateway": settings.gateway_port, "sender": settings.sender_port,
                 "ingest": settings.ingest_port, "stats": settings.stats_port}
        for name, port in ports.items():
            wait_ready(name, port)
        assert settings.mongodb_url is not None
        demo = asyncio.run(ensure_demo(settings, settings.mongodb_url))
        print(banner(settings, demo, sim), flush=True)
        while not stop["now"]:
            if dead := supervisor.dead():
                say(f"{', '.join(dead)} exited; see {log_dir}. Stopping.")
                break
            time.sleep(0.2)
    finally:
        say("stopping...")
        supervisor.stop()
        if mongo is not None:
            mongo.stop()
        with contextlib.suppress(Exception):
            say("stopped.")
