"""The fault suite: a mixed workload through the whole stack while faults are injected in turn,
then every invariant checked and the figures written to ``.relay/chaos-figures.json``.

Short form (inside ``make test``): a few messages per phase, each injection once. Long form
(``make chaos``, ``RELAY_CHAOS_LONG=1``): more traffic per phase and longer outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from relay import admin
from shared import topology
from shared.db import Database
from shared.secrets import TokenCipher
from shared.settings import Settings, env_for
from tests.chaos import invariants
from tests.chaos.conftest import LONG, KillableMongo
from tests.chaos.proxy import StallableProxy
from tests.chaos.workload import Tenant, Workload
from tests.conftest import eventually
from tests.harness import SERVICES, Stack, port_of

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / ".relay" / "chaos-figures.json"
SENDS_PER_PHASE = 24 if LONG else 4
OUTAGE = 20.0 if LONG else 4.0  # seconds a database, broker stall or slow API lasts
SLOW_SECONDS = 4.0  # a hung send answers after this; below the sender's 6 s timeout


class Chaos:
    """The injections, each leaving the stack whole and ready again."""

    def __init__(self, stack: Stack, mongo: KillableMongo, proxy: StallableProxy,
                 workload: Workload, settings: Settings) -> None:
        self.stack, self.mongo, self.proxy = stack, mongo, proxy
        self.workload, self.settings = workload, settings

    async def ready(self, timeout: float = 90.0) -> None:
        async def all_ready() -> bool:
            for name in (*SERVICES, "sim"):
                url = f"http://127.0.0.1:{port_of(self.settings, name)}/health/ready"
                try:
                    async with self.workload.http.get(url) as response:
                        if response.status != 200:
                            return False
                except aiohttp.ClientError:
                    return False
            return True

        await eventually(all_ready, timeout=timeout, interval=0.25, message="every service ready")

    async def kill_and_restart(self, name: str) -> None:
        self.stack.kill(name)
        await asyncio.to_thread(self.stack.start, name)

    async def broker_restart(self) -> None:
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        try:
            await asyncio.sleep(1.0)  # the outage itself
        finally:
            await asyncio.to_thread(rabbitmqctl, "start_app")
            await asyncio.to_thread(rabbitmqctl, "await_startup")

    async def database_restart(self) -> None:
        self.mongo.kill()
        try:
            await asyncio.sleep(OUTAGE / 2)
        finally:
            await asyncio.to_thread(self.mongo.start)

    async def cloud_api_errors(self) -> None:
        sim = self.workload
        await sim.sim_post("/_sim/fail", {"code": 131000, "httpStatus": 500, "times": 6})
        await sim.sim_post("/_sim/fail", {"delaySeconds": SLOW_SECONDS, "times": 4})
        await asyncio.sleep(OUTAGE)
        async with sim.http.delete(sim.sim + "/_sim/fail") as response:
            assert response.status == 200

    async def broker_stall(self) -> None:
        self.proxy.pause()
        try:
            await asyncio.sleep(OUTAGE * 2)
        finally:
            self.proxy.resume()

    def plan(self) -> list[tuple[str, Any]]:
        kills = [(f"kill -9 {name}", lambda n=name: self.kill_and_restart(n)) for name in SERVICES]
        phases = [
            ("baseline", asyncio.sleep), *kills,
            ("rabbitmq stop_app/start_app", self.broker_restart),
            ("database kill -9 and restart", self.database_restart),
            ("cloud API 5xx and slow answers", self.cloud_api_errors),
            ("broker connection stalled", self.broker_stall),
        ]
        skip = [s for s in os.environ.get("RELAY_CHAOS_SKIP", "").split(",") if s]
        return [(name, step) for name, step in phases if not any(s in name for s in skip)]


def progress(line: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def rabbitmqctl(*args: str, attempts: int = 20, timeout: float = 900) -> None:
    """``rabbitmqctl`` with retries: under load its CLI node sometimes fails to start, and
    ``start_app`` re-opens every vhost of the broker, which takes minutes when it holds many."""
    last = ""
    for _ in range(attempts):
        try:
            done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            last = f"timed out after {exc.timeout} s"
            continue
        if done.returncode == 0:
            return
        last = done.stderr[-500:]
        time.sleep(1)
    raise RuntimeError(f"rabbitmqctl {' '.join(args)} kept failing: {last}")


async def make_tenant(db: Database, settings: Settings) -> Tenant:
    """A user with two accounts: one paced at 40/min, one with a small daily limit."""
    user = await admin.create_user(db, "chaos")
    cipher = TokenCipher(settings.secret_key)
    accounts = {}
    for pnid, rate, daily, token in (("1900000001", 40, 1000, "chaos-token-alpha-7f3a"),
                                     ("1900000002", 600, 12, "chaos-token-beta-91c2")):
        doc = await admin.create_account(
            db, cipher, user_id=user["userId"], name=f"chaos {pnid}", phone_number_id=pnid,
            display_phone_number=f"+1555{pnid[-7:]}", access_token=token,
            rate_per_minute=rate, daily_limit=daily, enforce_customer_window=False)
        accounts[doc["_id"]] = {**doc, "token": token}
    return Tenant(user["userId"], user["apiKey"], accounts)


async def dead_letters(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.DEAD_QUEUE, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


class TestFaults:
    """Through kill -9 of every service, a broker restart, a database restart, Cloud API errors
    and a stalled broker connection, nothing accepted is lost, nothing is sent twice, statuses
    only move forward, the counters equal the counts and the limits hold."""

    async def test_invariants_hold_through_every_fault(
        self, chaos_stack: Stack, chaos_db: Database, chaos_mongo: KillableMongo,
        broker_proxy: StallableProxy, chaos_settings: Settings, direct_amqp_url: str,
        http: aiohttp.ClientSession,
    ) -> None:
        settings = chaos_settings
        tenant = await make_tenant(chaos_db, settings)
        await asyncio.to_thread(chaos_stack.start_all)
        sim_url = f"http://127.0.0.1:{settings.sim_port}"
        workload = Workload(http, gateway=settings.gateway_url, sim=sim_url, tenant=tenant)
        await workload.sim_post("/_sim/config", {"duplicateStatuses": True})
        chaos = Chaos(chaos_stack, chaos_mongo, broker_proxy, workload, settings)
        await chaos.ready()

        phases = []
        started = time.monotonic()
        for number, (name, inject) in enumerate(chaos.plan()):
            phase_start = time.monotonic()
            await workload.sim_post("/_sim/config", {"reorderStatuses": number % 2 == 1})
            traffic = asyncio.create_task(workload.burst(SENDS_PER_PHASE))
            await (inject(0.5) if inject is asyncio.sleep else inject())
            await traffic
            await chaos.ready()
            phases.append({"phase": name, "seconds": round(time.monotonic() - phase_start, 1)})
            progress(f"phase {name!r} done in {phases[-1]['seconds']} s; "
                     f"accepted so far {len(workload.ledger.accepted)}")

        figures = await self.settle_and_measure(workload, chaos_db, settings, direct_amqp_url)
        figures["phases"] = phases
        figures["seconds"] = round(time.monotonic() - started, 1)
        figures["secretsInLogs"] = secrets_in_logs(chaos_stack, tenant, settings)
        write_figures(figures)
        print(json.dumps(figures, indent=2))
        self.assert_invariants(figures)

    async def settle_and_measure(self, workload: Workload, db: Database, settings: Settings,
                                 amqp_url: str) -> dict[str, Any]:
        ledger, tenant = workload.ledger, workload.tenant

        async def settled() -> bool:
            left = await invariants.unsettled(db)
            if left:
                progress(f"waiting for {len(left)} unsettled: {left[:5]}")
            return not left

        await eventually(settled, timeout=240, interval=1.0, message="every message settled")

        async def simulator_quiet() -> bool:  # every status webhook delivered, so no status
            async with workload.http.get(workload.sim + "/_sim/webhooks/pending") as response:
                return (await response.json())["pending"] == 0  # moves during the counting

        await eventually(simulator_quiet, timeout=120, interval=0.5, message="webhooks posted")
        await eventually(settled, timeout=60, interval=0.5, message="their events recorded")

        async def inbound_done() -> bool:
            return not await invariants.inbound_problems(db, ledger)

        await eventually(inbound_done, timeout=90, interval=1.0, message="inbound all stored")
        async with workload.http.get(workload.sim + "/_sim/sends/counts") as response:
            counts = (await response.json())["counts"]
        async with workload.http.get(workload.sim + "/_sim/sends") as response:
            sends = (await response.json())["sends"]
        mismatches = await self.counter_mismatches(workload, db)
        await asyncio.to_thread(rebuild_stats, settings)
        after_rebuild = await self.counter_mismatches(workload, db)
        statuses = await invariants.counted(db, tenant.user_id)
        rate_of = {a["phoneNumberId"]: a["ratePerMinute"] for a in tenant.accounts.values()}
        return {
            "form": "long" if LONG else "short",
            "accepted": len(ledger.accepted),
            "refused": ledger.refused,
            "unanswered": ledger.unanswered,
            "answers5xx": ledger.answers_5xx,
            "scheduled": len(ledger.scheduled),
            "mediaSends": len(ledger.media_sends),
            "inboundDistinct": len(ledger.inbound_wamids),
            "inboundInjections": ledger.inbound_injections,
            "statusReplays": ledger.status_replays,
            "cloudApiSends": len(sends),
            "finalStatuses": {k: v for k, v in statuses["byStatus"].items() if v},
            "lost": await invariants.lost(db, ledger),
            "doubleSends": invariants.double_sends(counts),
            "backwards": await invariants.backwards(db),
            "counterMismatches": mismatches,
            "counterMismatchesAfterRebuild": after_rebuild,
            "windowViolations": invariants.window_violations(sends, rate_of),
            "dailyViolations": await invariants.daily_violations(db, sends, tenant.accounts),
            "inboundProblems": await invariants.inbound_problems(db, ledger),
            "deadLettered": await dead_letters(amqp_url),
        }

    async def counter_mismatches(self, workload: Workload, db: Database) -> list[str]:
        """Statistics vs counts, for the user and each account, once the projection caught up."""
        tenant = workload.tenant
        scopes: list[str | None] = [None, *tenant.accounts]

        async def compare() -> list[str]:
            problems = []
            for account_id in scopes:
                query = f"?whatsappAccountId={account_id}" if account_id else ""
                _status, body = await workload.call("GET", f"/messages/statistics{query}")
                expected = await invariants.counted(db, tenant.user_id, account_id)
                found = invariants.counter_mismatches(body.get("data") or {}, expected)
                problems += [f"{account_id or 'user'}: {p}" for p in found]
            return problems

        clean_in_a_row = 0

        async def stable() -> bool:  # equal on two polls a second apart: the projection is
            nonlocal clean_in_a_row  # caught up, not passing through equality
            clean_in_a_row = clean_in_a_row + 1 if not await compare() else 0
            return clean_in_a_row >= 2

        with contextlib.suppress(AssertionError):
            await eventually(stable, timeout=60, interval=1.0, message="counters equal counts")
        return [] if clean_in_a_row >= 2 else await compare()

    def assert_invariants(self, figures: dict[str, Any]) -> None:
        assert figures["accepted"] > 0
        for key in ("lost", "doubleSends", "backwards", "counterMismatches",
                    "counterMismatchesAfterRebuild", "windowViolations", "dailyViolations",
                    "inboundProblems", "secretsInLogs"):
            assert not figures[key], f"{key}: {figures[key]}"
        assert 500 not in figures["answers5xx"], "the gateway answered 500"



def rebuild_stats(settings: Settings) -> None:
    done = subprocess.run([sys.executable, "-m", "relay.cli", "stats", "rebuild"],
                          env=env_for(settings), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def secrets_in_logs(stack: Stack, tenant: Tenant, settings: Settings) -> list[str]:
    """Every service's captured output, scanned for the API key, tokens and the app secret."""
    secrets = {"apiKey": tenant.api_key, "appSecret": settings.whatsapp_app_secret,
               "secretKey": settings.secret_key}
    secrets |= {f"accessToken:{a['phoneNumberId']}": a["token"] for a in tenant.accounts.values()}
    found = []
    for name in (*SERVICES, "sim"):
        text = stack.logs(name)
        found += [f"{label} in {name}.log" for label, value in secrets.items() if value in text]
    return found


def write_figures(figures: dict[str, Any]) -> None:
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    counted = ("lost", "doubleSends", "backwards", "counterMismatches",
               "counterMismatchesAfterRebuild", "windowViolations", "dailyViolations",
               "inboundProblems", "secretsInLogs")
    summary = {k: len(v) if k in counted else v for k, v in figures.items()}
    FIGURES.write_text(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "summary": summary, "detail": figures}, indent=2))
