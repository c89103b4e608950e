"""``relay``: up, serve, sim, admin, export, stats — argument parsing and process lifecycle only."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
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


def relay_version() -> str:
    """The installed package's version (``relay --version``)."""
    try:
        return version("relay")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relay", description="Relay, a WhatsApp backend. Settings come from RELAY_* "
        "environment variables (see the README's configuration table).")
    parser.add_argument("--version", action="version", version=f"relay {relay_version()}",
                        help="print Relay's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="run everything on embedded defaults until Ctrl-C")
    serve = sub.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=["gateway", "sender", "ingest", "stats"],
                       help="the service to run (what a container runs)")
    sub.add_parser("sim", help="run the WhatsApp Cloud API simulator")
    _admin_parser(sub)
    _export_parser(sub)
    stats = sub.add_parser("stats", help="statistics").add_subparsers(
        dest="stats_command", required=True, metavar="ACTION"
    )
    stats.add_parser("rebuild", help="recompute every counter from the event log")
    dead = sub.add_parser("dead-letters", help="inspect or replay the dead-letter queue")
    dead.add_argument("action", choices=["list", "replay"],
                      help="list: show dead letters, removing nothing; replay: send each back "
                      "to the queue it died in")
    dead.add_argument("--limit", type=int, default=100,
                      help="handle at most this many dead letters (default: %(default)s)")
    dead.add_argument("--dry-run", action="store_true",
                      help="with replay: show what would be replayed, change nothing")
    return parser


def _admin_parser(sub: Any) -> None:
    admin = sub.add_parser("admin", help="users, API keys and stored secrets").add_subparsers(
        dest="admin_command", required=True, metavar="ACTION"
    )
    create_user = admin.add_parser("create-user", help="create a user and an all-scope key")
    create_user.add_argument("name", help="the user's display name")
    create_key = admin.add_parser("create-key", help="create an API key for a user")
    create_key.add_argument("user_id", help="the userId that create-user printed")
    create_key.add_argument("--scopes", required=True, help="comma-separated, e.g. messages:read")
    admin.add_parser(
        "rotate-tokens", help="re-encrypt every stored access token with the newest key of "
        "RELAY_SECRET_KEY (newest first, comma-separated); safe to run again")


def _export_parser(sub: Any) -> None:
    export = sub.add_parser(
        "export", help="write a user's messages to a CSV or NDJSON file, newest first (the "
        "filters of GET /messages)")
    export.add_argument("--user", required=True, help="the userId whose messages to export")
    export.add_argument("--format", required=True, choices=["csv", "ndjson"],
                        help="csv (RFC 4180, a header row) or ndjson (one message a line)")
    export.add_argument("--out", required=True, help="the file to write (replaced if it exists)")
    for option, what in (("account", "a WhatsApp account id"), ("contact", "a contact id"),
                         ("campaign", "a campaign id"), ("direction", "Inbound or Outbound"),
                         ("type", "a message type, e.g. Text"), ("status", "e.g. Failed"),
                         ("from", "created at or after (ISO-8601)"),
                         ("to", "created at or before (ISO-8601)"),
                         ("q", "words the message, contact name or phone contain")):
        export.add_argument(f"--{option}", help=f"only messages with {what}")


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
    try:
        module = importlib.import_module(SERVICE_MODULES[name])
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "simulator":
            raise
        # The production image leaves the simulator out (services/simulator/pyproject.toml).
        sys.exit("relay: the WhatsApp simulator is not installed here: it is a development "
                 "tool (`make install` installs it); set RELAY_WHATSAPP_API_URL instead")
    serve: Callable[[Settings], Awaitable[None]] = module.serve
    run_until_signal(lambda: serve(settings))  # type: ignore[arg-type,return-value]


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[Any]], *,
                   indexes: bool = True) -> Any:
    """``work(db)`` on Relay's database, its indexes created first unless ``indexes`` is
    False (a command that only reads)."""
    from shared.db import connect, ensure_indexes

    client = connect(settings.database_url)
    try:
        db = client[settings.mongodb_db]
        if indexes:
            await ensure_indexes(db)
        return await work(db)
    finally:
        await client.close()


def _admin(args: argparse.Namespace, settings: Settings) -> None:
    from relay import admin

    if args.admin_command == "rotate-tokens":
        _rotate_tokens(settings)
        return
    if args.admin_command == "create-user":
        result = asyncio.run(_with_db(settings, lambda db: admin.create_user(db, args.name)))
    else:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        result = asyncio.run(
            _with_db(settings, lambda db: admin.create_key(db, args.user_id, scopes))
        )
    print(json.dumps(result))


def _rotate_tokens(settings: Settings) -> None:
    from relay.rotation import rotate_tokens
    from shared.secrets import TokenCipher

    cipher = TokenCipher(settings.secret_key)

    def progress(done: int) -> None:
        print(f"\r  {done} accounts checked", end="", file=sys.stderr, flush=True)

    report = asyncio.run(_with_db(settings, lambda db: rotate_tokens(db, cipher,
                                                                     progress=progress)))
    print(file=sys.stderr)
    print(json.dumps(report.as_json()))
    if report.unreadable:
        sys.exit(f"relay: {len(report.unreadable)} token(s) open with no key of "
                 "RELAY_SECRET_KEY (accounts listed under unreadable): add the key they were "
                 "stored with, after the newest, and run again")


def _stats(settings: Settings) -> None:
    from stats.rebuild import rebuild

    def progress(done: int) -> None:
        print(f"\r  {done} events replayed", end="", file=sys.stderr, flush=True)

    result = asyncio.run(_with_db(settings, lambda db: rebuild(db, progress=progress)))
    print(file=sys.stderr)
    print(json.dumps(result))


def _export(args: argparse.Namespace, settings: Settings) -> None:
    from pathlib import Path

    from relay.export import FILTERS, export_to_file, query_of, stderr_progress

    query = query_of(args.format, {name: getattr(args, name) for name in FILTERS})
    out = Path(args.out)
    rows = asyncio.run(_with_db(settings, lambda db: export_to_file(
        db, args.user, query, out, progress=stderr_progress), indexes=False))
    print(file=sys.stderr)
    print(json.dumps({"rows": rows, "file": str(out)}))


def _dead_letters(args: argparse.Namespace, settings: Settings) -> None:
    from relay.deadletters import list_dead, replay_dead

    if args.dry_run and args.action != "replay":
        sys.exit("relay: --dry-run goes with replay (list never changes anything)")
    if args.limit < 1:
        sys.exit("relay: --limit must be at least 1")
    result: Any
    if args.action == "list":
        result = asyncio.run(list_dead(settings, limit=args.limit))
    else:
        result = asyncio.run(replay_dead(settings, limit=args.limit, dry_run=args.dry_run))
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
        elif args.command == "export":
            _export(args, settings)
    except (SettingsError, ValueError) as exc:
        sys.exit(f"relay: {exc}")


if __name__ == "__main__":
    main()
