"""Logs: secrets redacted at any depth, and the standard library's loggers rendered as the same
JSON lines as Relay's own."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from shared.logging import REDACTED, is_secret_key, redact
from tests.log_capture import captured_logs

pytestmark = pytest.mark.unit

SECRET = "EAAG-very-secret-4f2a"
REPO = Path(__file__).resolve().parents[3]


class TestRedact:
    def test_secrets_are_redacted_in_dicts_lists_and_tuples_at_any_depth(self) -> None:
        value = {"payload": {"token": SECRET, "items": [{"accessToken": SECRET},
                                                        ({"deeper": [{"api_key": SECRET}]},)]},
                 "phone": "+15551234567"}
        cleaned = redact(value)
        assert SECRET not in repr(cleaned)
        assert cleaned == {"payload": {"token": REDACTED, "items": [
            {"accessToken": REDACTED}, [{"deeper": [{"api_key": REDACTED}]}]]},
            "phone": "+15551234567"}

    def test_the_original_is_not_changed(self) -> None:
        value = {"payload": {"token": SECRET}}
        redact(value)
        assert value == {"payload": {"token": SECRET}}

    @pytest.mark.parametrize("key", ["token", "access_token", "accessToken", "Access-Token",
                                     "Authorization", "X-Hub-Signature-256", "app_secret",
                                     "hub.verify_token", "password", "secret_key"])
    def test_secret_key_spellings(self, key: str) -> None:
        assert is_secret_key(key)

    @pytest.mark.parametrize("key", ["tokens_used", "status", "phone", "accountId", 3])
    def test_ordinary_keys_are_kept(self, key: object) -> None:
        assert not is_secret_key(key)

    def test_a_cycle_does_not_hang(self) -> None:
        looped: dict[str, object] = {}
        looped["self"] = looped
        assert "[too deep]" in repr(redact(looped))


class TestLogLines:
    def test_a_nested_token_never_reaches_the_stream(self) -> None:
        with captured_logs() as logs:
            structlog.get_logger("relay.test").info(
                "webhook", payload={"entry": [{"token": SECRET}]}, authorization=SECRET)
        assert SECRET not in logs.text
        (line,) = logs.events("webhook")
        assert line["payload"] == {"entry": [{"token": REDACTED}]}
        assert line["authorization"] == REDACTED and line["service"] == "test"

    def test_stdlib_loggers_come_out_as_json_lines_with_the_same_fields(self) -> None:
        with captured_logs() as logs:
            logging.getLogger("aiohttp.server").error("Error handling request %s", "/x")
            logging.getLogger("pymongo.topology").warning("server %s gone", "db:27017")
            logging.getLogger("aio_pika.robust_connection").info("reconnecting")  # below WARNING
        records = logs.records()  # each line parses as JSON
        assert [(r["logger"], r["level"], r["event"]) for r in records] == [
            ("aiohttp.server", "error", "Error handling request /x"),
            ("pymongo.topology", "warning", "server db:27017 gone"),
        ]
        assert all(r["service"] == "test" and "timestamp" in r for r in records)

    def test_stdlib_exceptions_are_json_too(self) -> None:
        with captured_logs() as logs:
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                logging.getLogger("aiohttp.server").exception("Error handling request")
        (record,) = logs.records()
        assert "RuntimeError: boom" in record["exception"]

    def test_secrets_in_stdlib_extras_are_redacted(self) -> None:
        with captured_logs() as logs:
            logging.getLogger("aiohttp.client").warning("retry", extra={"token": SECRET, "n": 2})
        (record,) = logs.records()
        assert record["token"] == REDACTED and record["n"] == 2


def test_a_service_process_writes_only_json_lines() -> None:
    """A real process configured as the CLI does it: Relay's lines, a library's lines and a
    Python warning all come out as JSON objects, one a line, and nothing else."""
    script = (
        "import logging, warnings, structlog\n"
        "from shared.logging import configure\n"
        "configure('ingest')\n"
        "structlog.get_logger('relay.ingest').info('started', payload={'token': 'EAAG-x'})\n"
        "logging.getLogger('aiohttp.server').error('Error handling request')\n"
        "warnings.warn('deprecated thing', DeprecationWarning, stacklevel=1)\n"
    )
    done = subprocess.run([sys.executable, "-W", "always", "-c", script], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(r.get("logger"), r["event"].split(":")[0]) for r in lines][:2] == [
        (None, "started"), ("aiohttp.server", "Error handling request")]
    assert lines[2]["logger"] == "py.warnings" and "deprecated thing" in lines[2]["event"]
    assert all(r["service"] == "ingest" for r in lines) and "EAAG-x" not in done.stderr
    assert done.stdout == ""
