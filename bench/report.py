"""``BENCHMARKS.md``: the machine, the versions, and every figure with its floor and target."""
# ruff: noqa: RUF001 -- the typographic signs in the report text are meant

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LIBRARIES = ("aiohttp", "aio-pika", "aiormq", "pymongo", "pydantic", "structlog", "nx-27017")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return math.nan


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "unknown"


def machine() -> dict[str, Any]:
    """Facts about this machine and the versions under test."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memoryGiB": round(_mem_total_gib(), 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "rabbitmq": _command("rabbitmqctl", "-q", "version"),
        "commit": _command("git", "rev-parse", "--short", "HEAD"),
        "loadAverage": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "libraries": versions,
    }


def _num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _spread(spread: dict[str, float] | None, unit: str = "") -> tuple[str, str]:
    if not spread or not spread["repeats"]:
        return "—", "—"
    return _num(spread["median"], unit), f"{_num(spread['min'])}–{_num(spread['max'])}"


def _met(value: bool | None) -> str:
    return {True: "✅ met", False: "❌ not met", None: "—"}[value]


def figure_markdown(figure: dict[str, Any]) -> list[str]:
    lines = [f"## {figure['title']}", "", figure["setup"], ""]
    if figure.get("error"):
        lines += [f"**Not measured in this run:** {figure['error']}", ""]
    if figure["rows"]:
        lines += ["| measure | median | spread (min–max) | n | floor (median) | ratio to floor "
                  "(median, spread) | target | met |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in figure["rows"]:
            median, spread = _spread(row["spread"], row["unit"])
            floor, _ = _spread(row["floorSpread"], row["unit"])
            ratio_m, ratio_s = _spread(row["ratio"])
            ratio = f"{ratio_m}× ({ratio_s})" if row["ratio"] else "—"
            lines.append(f"| {row['label']} | {median} | {spread} | {row['spread']['repeats']} | "
                         f"{floor} | {ratio} | {row['target'] or '—'} | {_met(row['met'])} |")
        lines.append("")
    lines += [f"- {note}" for note in figure["notes"]]
    if figure["notes"]:
        lines.append("")
    return lines


def render(results: dict[str, Any], notes: str) -> str:
    """The whole ``BENCHMARKS.md``."""
    m = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    mode = ("**quick run** (`make bench-quick`: smaller counts, 3 repeats) — run `make bench` "
            "for the full figures" if results["quick"] else "full run (`make bench`)")
    lines = [
        "# Relay benchmarks", "",
        f"Written by `python -m bench` ({mode}) on {m['date']}, commit `{m['commit']}`, "
        f"in {results['elapsed']:.0f} s. Every figure is the median and the spread (min–max) of "
        "its repeats; where a floor exists it was measured in the same run on the same broker "
        "and database, and the ratio is taken repeat by repeat. The CPU was shared with other "
        "work while this ran, so absolute numbers drift; the ratios are what to compare.", "",
        "| machine | |", "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} cores |", f"| memory | {m['memoryGiB']} GiB |",
        f"| OS kernel | {m['kernel']} |", f"| Python | {m['python']} |",
        f"| RabbitMQ | {m['rabbitmq']} |", f"| libraries | {libs} |",
        f"| load average at start | {m['loadAverage']} |", "",
        "## Targets at a glance", "",
        "| figure | measure | median | target | met |", "|---|---|---|---|---|",
    ]
    for figure in results["figures"]:
        for row in figure["rows"]:
            if row["target"]:
                median, _ = _spread(row["spread"], row["unit"])
                lines.append(f"| {figure['title']} | {row['label']} | {median} | "
                             f"{row['target']} | {_met(row['met'])} |")
    lines.append("")
    for figure in results["figures"]:
        lines += figure_markdown(figure)
    if notes.strip():
        lines += [notes.strip(), ""]
    return "\n".join(lines)
