"""Relay's own Dockerfile checks, on top of hadolint's general ones.

Each check returns the problems it finds, as sentences; an empty list means the Dockerfile
keeps the rule. The rules:

1. every ``FROM`` pins a digest (``image:tag@sha256:...``): a tag alone can be re-pushed;
2. the build is multi-stage, and the final stage is a slim Python 3.11 base;
3. the final stage switches to a numeric, non-root ``USER`` after its last ``RUN``;
4. the final stage has a ``HEALTHCHECK`` (not ``NONE``);
5. ``apt-get install`` always has ``--no-install-recommends`` and cleans its lists;
6. no ``ADD`` of a URL (use a checked download in a builder stage, if ever);
7. every ``COPY`` into the final stage states its owner with ``--chown``;
8. the final stage installs no compiler or build tool;
9. ``ENTRYPOINT`` is the exec form ``["relay", "serve"]`` and ``CMD`` one service.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

BUILD_TOOLS = ("gcc", "g++", "clang", "build-essential", "make", "cmake", "cargo", "rustc")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    keyword: str
    arguments: str
    stage: int


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, each tagged with its stage (0-based)."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions, stage = [], -1
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, arguments.strip(), max(stage, 0)))
    return instructions


def _final(instructions: list[Instruction]) -> list[Instruction]:
    last = max((i.stage for i in instructions), default=0)
    return [i for i in instructions if i.stage == last]


def _image(from_arguments: str) -> str:
    words = [w for w in from_arguments.split() if not w.startswith("--")]
    return words[0] if words else ""


def check_pinned_bases(instructions: list[Instruction]) -> list[str]:
    problems: list[str] = []
    stages: set[str] = set()
    for instruction in instructions:
        if instruction.keyword != "FROM":
            continue
        image = _image(instruction.arguments)
        name, _, digest = image.partition("@sha256:")
        tag = name.rpartition(":")[2] if ":" in name else ""
        pinned = re.fullmatch(r"[0-9a-f]{64}", digest) and tag not in ("", "latest")
        if not pinned and image not in stages:  # an earlier stage of this file is fine
            problems.append(f"FROM {image} is not pinned to a tag and a digest")
        words = instruction.arguments.split()
        if len(words) >= 3 and words[-2].upper() == "AS":
            stages.add(words[-1])
    return problems


def check_multi_stage(instructions: list[Instruction]) -> list[str]:
    froms = [i for i in instructions if i.keyword == "FROM"]
    if len(froms) < 2:
        return ["the build is not multi-stage"]
    final = _image(froms[-1].arguments)
    if not re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", final):
        return [f"the final stage is based on {final}, not a slim Python 3.11 image"]
    return []


def check_non_root_user(instructions: list[Instruction]) -> list[str]:
    final = _final(instructions)
    users = [n for n, i in enumerate(final) if i.keyword == "USER"]
    if not users:
        return ["the final stage never sets USER"]
    user = final[users[-1]].arguments.split(":")[0]
    if not user.isdigit() or int(user) == 0:
        return [f"USER {user} is not a numeric non-root uid"]
    runs = [n for n, i in enumerate(final) if i.keyword == "RUN"]
    if runs and runs[-1] > users[-1]:
        return ["a RUN comes after USER in the final stage"]
    return []


def check_healthcheck(instructions: list[Instruction]) -> list[str]:
    checks = [i for i in _final(instructions) if i.keyword == "HEALTHCHECK"]
    if not checks or checks[-1].arguments.upper() == "NONE":
        return ["the final stage has no HEALTHCHECK"]
    return []


def check_apt(instructions: list[Instruction]) -> list[str]:
    problems = []
    for instruction in instructions:
        if instruction.keyword == "RUN" and "apt-get install" in instruction.arguments:
            if "--no-install-recommends" not in instruction.arguments:
                problems.append("apt-get install without --no-install-recommends")
            if "rm -rf /var/lib/apt/lists" not in instruction.arguments:
                problems.append("apt-get install without removing /var/lib/apt/lists")
    return problems


def check_no_remote_add(instructions: list[Instruction]) -> list[str]:
    return [f"ADD of a URL: {i.arguments}" for i in instructions
            if i.keyword == "ADD" and re.search(r"\b(https?|ftp)://", i.arguments)]


def check_copy_chown(instructions: list[Instruction]) -> list[str]:
    return [f"COPY without --chown in the final stage: {i.arguments}"
            for i in _final(instructions)
            if i.keyword in ("COPY", "ADD") and "--chown=" not in i.arguments]


def check_no_build_tools(instructions: list[Instruction]) -> list[str]:
    problems = []
    for instruction in _final(instructions):
        if instruction.keyword != "RUN":
            continue
        words = set(re.split(r"[\s;&|]+", instruction.arguments))
        problems += [f"the final stage installs {tool}" for tool in BUILD_TOOLS if tool in words]
    return problems


def exec_form(instructions: list[Instruction], keyword: str) -> list[str] | None:
    """The last ``keyword`` instruction's exec-form argument list, or None (shell form/none)."""
    found = [i for i in _final(instructions) if i.keyword == keyword]
    if not found:
        return None
    try:
        value = json.loads(found[-1].arguments)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def check_entrypoint(instructions: list[Instruction], services: set[str]) -> list[str]:
    entrypoint, command = exec_form(instructions, "ENTRYPOINT"), exec_form(instructions, "CMD")
    problems = []
    if entrypoint != ["relay", "serve"]:
        problems.append(f"ENTRYPOINT is {entrypoint}, not the exec form ['relay', 'serve']")
    if command is None or len(command) != 1 or command[0] not in services:
        problems.append(f"CMD is {command}, not one service of {sorted(services)}")
    return problems


def lint(text: str, services: set[str]) -> list[str]:
    """Every rule's problems for the Dockerfile ``text``."""
    instructions = parse(text)
    return [
        *check_pinned_bases(instructions),
        *check_multi_stage(instructions),
        *check_non_root_user(instructions),
        *check_healthcheck(instructions),
        *check_apt(instructions),
        *check_no_remote_add(instructions),
        *check_copy_chown(instructions),
        *check_no_build_tools(instructions),
        *check_entrypoint(instructions, services),
    ]


def copy_sources(text: str) -> list[str]:
    """Build-context paths that COPY instructions read (not ``--from`` stages)."""
    sources = []
    for instruction in parse(text):
        if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
            continue
        words = [w for w in shlex.split(instruction.arguments) if not w.startswith("--")]
        sources += words[:-1]
    return sources
