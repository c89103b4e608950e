"""Read the hashed lock files (requirements/*.txt, written by ``make lock``)."""

from __future__ import annotations

import re
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [sha256 hashes])}`` for every requirement of a lock file."""
    found: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = normalise(match[1])
            found[current] = (match[2], [])
        elif current and (hashed := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            found[current][1].append(hashed[1])
        elif line.strip() and not line.lstrip().startswith(("#", "--hash")):
            raise ValueError(f"{path.name}: not a pinned requirement: {line!r}")
    return found


def pins(path: Path) -> dict[str, str]:
    """``{name: version}`` for every requirement of a lock file."""
    return {name: version for name, (version, _) in entries(path).items()}
