"""The ``relay`` command's surface: ``--version`` and a help text on every argument."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from relay.cli import _parser

pytestmark = pytest.mark.unit


def every_parser(parser: argparse.ArgumentParser, path: str = "relay") -> Iterator[
        tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from every_parser(sub, f"{path} {name}")


def test_version_prints_the_package_version() -> None:
    done = subprocess.run([sys.executable, "-m", "relay.cli", "--version"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"relay {version('relay')}"


def test_every_argument_and_command_has_help() -> None:
    missing = []
    for path, parser in every_parser(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {a.dest}" for a in action._choices_actions if not a.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {action.dest}")
    assert missing == []


def test_the_walk_sees_the_nested_commands() -> None:
    paths = {path for path, _ in every_parser(_parser())}
    assert {"relay admin rotate-tokens", "relay dead-letters", "relay serve"} <= paths


def test_dry_run_is_an_option_of_dead_letters() -> None:
    args = _parser().parse_args(["dead-letters", "replay", "--dry-run"])
    assert args.dry_run and args.action == "replay"
    assert not _parser().parse_args(["dead-letters", "replay"]).dry_run
