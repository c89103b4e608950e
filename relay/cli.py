"""``relay``: up, serve, sim, admin, stats — argument parsing and process lifecycle only."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from shared.logging import configure
from shared.settings import Settings, SettingsError, load_settings

SERVICE_MODULES = {
    "gateway": "gateway.main",
    "sender": "sender.main",
    "ingest": "ingest.main",
    "stats": "stats.main",
    "sim": "simulator.main",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description="Relay, a WhatsApp backend.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run everything on embedded defaults until Ctrl-C")
    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=["gateway", "sender", "ingest", "stats"])
    sub.add_parser("sim", help="run the WhatsApp Cloud API simulator")
    admin = sub.add_parser("admin", help="users and API keys").add_subparsers(
        dest="admin_command", required=True
    )
    create_user = admin.add_parser("create-user", help="create a user and an all-scope key")
    create_user.add_argument("name")
    create_key = admin.add_parser("create-key", help="create an API key for a user")
    create_key.add_argument("user_id")
    create_key.add_argument("--scopes", required=True, help="comma-separated, e.g. messages:read")
    stats = sub.add_parser("stats", help="statistics").add_subparsers(
        dest="stats_command", required=True
    )
    stats.add_parser("rebuild", help="recompute every counter from the event log")
    dead = sub.add_parser("dead-letters", help="inspect or replay the dead-letter queue")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("--limit", type=int, default=100)
    return parser


def run_until_signal(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` until it returns or SIGINT/SIGTERM arrives (then cancel it, cleanly)."""

    async def runner() -> None:
        task = asyncio.create_task(main())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(runner())


def _serve(name: str, settings: Settings) -> None:
    module = importlib.import_module(SERVICE_MODULES[name])
    serve: Callable[[Settings], Awaitable[None]] = module.serve
    run_until_signal(lambda: serve(settings))  # type: ignore[arg-type,return-value]


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from shared.db import connect, ensure_indexes

    client = connect(settings.database_url)
    try:
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        return await work(db)
    finally:
        await client.close()


def _admin(args: argparse.Namespace, settings: Settings) -> None:
    from relay import admin

    if args.admin_command == "create-user":
        result = asyncio.run(_with_db(settings, lambda db: admin.create_user(db, args.name)))
    else:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        result = asyncio.run(
            _with_db(settings, lambda db: admin.create_key(db, args.user_id, scopes))
        )
    print(json.dumps(result))


def _stats(settings: Settings) -> None:
    from stats.rebuild import rebuild

    def progress(done: int) -> None:
        print(f"\r  {done} events replayed", end="", file=sys.stderr, flush=True)

    result = asyncio.run(_with_db(settings, lambda db: rebuild(db, progress=progress)))
    print(file=sys.stderr)
    print(json.dumps(result))


def _dead_letters(args: argparse.Namespace, settings: Settings) -> None:
    from relay.deadletters import list_dead, replay_dead

    work = list_dead if args.action == "list" else replay_dead
    result = asyncio.run(work(settings, limit=args.limit))
    print(json.dumps(result, indent=2, default=str))


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"relay: {exc}")
    service = {"serve": getattr(args, "service", None), "sim": "sim"}.get(args.command)
    configure(service or "relay", level=settings.log_level, fmt=settings.log_format)
    try:
        if args.command == "up":
            from relay.up import up

            up(settings)
        elif service is not None:
            _serve(service, settings)
        elif args.command == "admin":
            _admin(args, settings)
        elif args.command == "stats":
            _stats(settings)
        elif args.command == "dead-letters":
            _dead_letters(args, settings)
    except (SettingsError, ValueError) as exc:
        sys.exit(f"relay: {exc}")


if __name__ == "__main__":
    main()
