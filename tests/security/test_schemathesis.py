"""schemathesis against the live gateway's own OpenAPI document, with a valid API key."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.settings import Settings
from tests.harness import Stack
from tests.security.conftest import Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = 100
# The CLI run generates few cases for these, and not the same number from run to run (PATCH and
# the template create: most generated bodies are refused, and schemathesis stops early; the
# statistics and the template sync, which take one parameter each: 12 to 75 cases in runs seen;
# the multipart upload: none in its fuzzing phase), so
# TestThinOperations drives schemathesis' own generation for them to EXAMPLES cases each.
SHORT_OF_EXAMPLES = {"PATCH /api/v1/whatsapp-accounts/{id}", "POST /api/v1/media",
                     "POST /api/v1/whatsapp-accounts/{id}/templates",
                     "GET /api/v1/messages/statistics",
                     "POST /api/v1/whatsapp-accounts/{id}/templates/sync"}
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
    """Test cases sent per operation label (``GET /api/v1/messages``), from schemathesis' NDJSON
    event log: every scenario's recorder names its operation and lists its cases."""
    counts: Counter[str] = Counter()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("label"), str) and isinstance(value.get("cases"), dict):
                counts[value["label"]] += len(value["cases"])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in report.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            walk(json.loads(line))
    return counts


def operations_with_input(spec: dict[str, Any]) -> set[str]:
    """Operations that take parameters or a body: the ones that can have 100 distinct cases."""
    found = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and (operation.get("parameters")
                                                or operation.get("requestBody")):
                found.add(f"{method.upper()} {path}")
    return found


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
        async with aiohttp.ClientSession() as http, http.get(
                f"{settings.gateway_url}/api/v1/openapi.json") as response:
            spec = await response.json()
        wanted = operations_with_input(spec) - SHORT_OF_EXAMPLES
        assert wanted, "the document has no operation with input"
        thin = {label: counts.get(label, 0) for label in wanted if counts.get(label, 0) < EXAMPLES}
        assert not thin, f"operations with fewer than {EXAMPLES} cases: {thin}"


def drive(url: str, label: str, tenant: Tenant, examples: int) -> Counter[str]:
    """``examples`` cases of one operation from schemathesis' strategies (valid and invalid,
    on the tenant's own account and on unknown ids), each sent and checked like the CLI run;
    returns how many were sent per generation mode."""
    import schemathesis
    from hypothesis import HealthCheck, given, strategies
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    method, path = label.split(" ", 1)
    operation = schemathesis.openapi.from_url(url)[path][method]
    own = {"id": tenant.account_id} if "{id}" in path else None
    strategy = strategies.one_of(*(
        operation.as_strategy(mode, path_parameters=ids).map(lambda case, m=mode: (m, case))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) for ids in (own, None)))
    auth = {"Authorization": f"Bearer {tenant.api_key}"}
    sent: Counter[str] = Counter()

    @hypothesis_settings(max_examples=examples, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck), derandomize=True)
    @given(strategy)
    def one(generated: tuple[Any, Any]) -> None:
        mode, case = generated
        response = case.call(headers=auth, timeout=15)
        case.validate_response(response, checks=[
            not_a_server_error, response_schema_conformance, status_code_conformance,
            content_type_conformance], headers=auth)
        sent[mode.value] += 1

    one()
    return sent


class TestThinOperations:
    """The operations the CLI run leaves short of EXAMPLES cases get them here, from the same
    generators and checks."""

    @pytest.mark.parametrize("label", sorted(SHORT_OF_EXAMPLES))
    async def test_at_least_the_examples(
        self, stack: Stack, settings: Settings, alice: Tenant, label: str
    ) -> None:
        await asyncio.to_thread(stack.start, "sim")
        await asyncio.to_thread(stack.start, "gateway")
        sent = await asyncio.to_thread(
            drive, f"{settings.gateway_url}/api/v1/openapi.json", label, alice, EXAMPLES)
        print(label, dict(sent))
        assert sum(sent.values()) >= EXAMPLES, dict(sent)
        assert sent["positive"] and sent["negative"], dict(sent)

