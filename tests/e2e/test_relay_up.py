"""`relay up` (what `make run` runs) prints a key and an account, and the README's curl works."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relay import embedded
from shared.settings import Settings

pytestmark = pytest.mark.e2e


def _wait_for_banner(process: subprocess.Popen[bytes], out: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = out.read_text(errors="replace") if out.exists() else ""
        if "Press Ctrl-C to stop." in seen:
            return seen
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"relay up printed no banner: {seen!r}")


class TestRelayUp:
    """From an empty directory: embedded database, simulator, four services, a demo tenant."""

    def test_up_prints_key_and_account_and_a_message_reaches_read(
        self, tmp_path: Path, settings: Settings
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        port = embedded.free_port
        env.update({
            "RELAY_AMQP_URL": settings.amqp_url,
            "RELAY_GATEWAY_PORT": str(port()), "RELAY_INGEST_PORT": str(port()),
            "RELAY_STATS_PORT": str(port()), "RELAY_SENDER_PORT": str(port()),
            "RELAY_SIM_PORT": str(port()),
        })
        out = tmp_path / "up.out"
        with out.open("wb") as stdout:
            process = subprocess.Popen(
                [sys.executable, "-m", "relay.cli", "up"], cwd=tmp_path, env=env,
                stdout=stdout, stderr=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            banner = _wait_for_banner(process, out, timeout=90)
            key = re.search(r"API key\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
            account = re.search(r"Account id\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
            api = f"http://127.0.0.1:{env['RELAY_GATEWAY_PORT']}/api/v1"
            body = json.dumps({"whatsappAccountId": account, "to": "+15551234567",
                               "type": "Text", "content": "Hello from Relay"})
            sent = subprocess.run(
                ["curl", "-s", "-X", "POST", f"{api}/messages",
                 "-H", f"Authorization: Bearer {key}",
                 "-H", "Content-Type: application/json", "-d", body],
                capture_output=True, text=True, check=True,
            )
            message_id = json.loads(sent.stdout)["data"]["id"]
            deadline = time.monotonic() + 10
            status = None
            while time.monotonic() < deadline and status != "Read":
                got = subprocess.run(
                    ["curl", "-s", f"{api}/messages/{message_id}",
                     "-H", f"Authorization: Bearer {key}"],
                    capture_output=True, text=True, check=True,
                )
                status = json.loads(got.stdout)["data"]["status"]
                time.sleep(0.2)
            assert status == "Read"
            # The demo account has a WABA id and two approved templates, synced from the
            # simulator; the banner shows a template send.
            assert '\\"type\\":\\"Template\\"' in banner and "order_update" in banner
            listed = subprocess.run(
                ["curl", "-s", f"{api}/whatsapp-accounts/{account}/templates",
                 "-H", f"Authorization: Bearer {key}"],
                capture_output=True, text=True, check=True,
            )
            templates = json.loads(listed.stdout)["data"]["templates"]
            assert sorted((t["name"], t["status"]) for t in templates) == [
                ("hello_world", "APPROVED"), ("order_update", "APPROVED")]
            # The banner's template curl, run as printed, is accepted with the rendered body.
            printed = banner.split("A template", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
            sent = subprocess.run(["bash", "-c", printed], capture_output=True, text=True,
                                  check=True, env={**os.environ, "RELAY": api, "KEY": key,
                                                   "ACCOUNT": account})
            queued = json.loads(sent.stdout)
            assert queued["success"] is True, queued
            assert queued["data"]["content"] == "Hi Ada, your order #1042 has shipped."
            # The embedded database's URL is recorded for other relay commands run here.
            assert (tmp_path / ".relay" / "mongodb.url").exists()
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(60)
        assert process.returncode == 0
        assert not (tmp_path / ".relay" / "mongodb.url").exists()
