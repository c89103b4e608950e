"""schemathesis against the live gateway's own OpenAPI document, with a valid API key."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.harness import Stack
from tests.security.conftest import Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = 100
CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance",
          "content_type_conformance")


def schemathesis(
    settings: Settings, tenant: Tenant, report: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("st")), "--no-color", "run",
        f"{settings.gateway_url}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {tenant.api_key}",
        "--max-examples", str(EXAMPLES), "--checks", ",".join(CHECKS),
        "--phases", "examples,fuzzing,stateful", "--seed", "9", "--workers", "2",
        "--request-timeout", "15", "--suppress-health-check", "all",
        "--report", "ndjson", "--report-dir", str(report),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)


def cases_per_operation(report: Path) -> Counter[str]:
    """Test cases sent per operation, from schemathesis' own event log."""
    counts: Counter[str] = Counter()
    for path in report.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished and finished.get("label"):
                recorder = finished.get("recorder") or {}
                counts[finished["label"]] += len(recorder.get("cases") or {})
    return counts


class TestSchemathesis:
    """Every operation of ``/api/v1/openapi.json``, ≥ 100 generated requests each (valid and
    invalid, stateful links included): never a 5xx, and every answer — status, content type and
    body — is one the document declares."""

    async def test_every_operation_conforms(
        self, stack: Stack, settings: Settings, alice: Tenant, tmp_path: Path
    ) -> None:
        await asyncio.to_thread(stack.start, "sim")
        await asyncio.to_thread(stack.start, "gateway")
        report = tmp_path / "schemathesis"

        result = await asyncio.to_thread(schemathesis, settings, alice, report)

        assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-3000:]
        counts = cases_per_operation(report)
        print(result.stdout[-3000:])
        print(dict(counts))
        assert counts, "schemathesis reported no operations"
        thin = {label: n for label, n in counts.items() if n < EXAMPLES}
        assert not thin, f"operations with fewer than {EXAMPLES} cases: {thin}"
