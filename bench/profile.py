"""``--profile gateway,sender,db``: py-spy samples of service processes while each figure runs.

py-spy is not a dependency (``pip install py-spy``). Each figure leaves collapsed stacks in
``.relay/bench/profiles/<figure>-<service>.txt`` (flamegraph.pl or speedscope read them) and
prints the functions that were on the stack most often.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.progress import step
from bench.stack import BenchStack

LINE = re.compile(r":\d+\)$")


class Profiler:
    """Starts one ``py-spy record`` per named process; :meth:`stop` writes and summarises."""

    def __init__(self, stack: BenchStack, names: list[str], out_dir: Path) -> None:
        self.stack = stack
        self.names = names
        self.out_dir = out_dir
        self.running: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
        self.binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    def _pid(self, name: str) -> int | None:
        if name == "db":
            return self.stack.mongo.process.pid
        proc = self.stack.procs.get(name)
        return proc.popen.pid if proc else None

    def start(self, figure: str) -> None:
        if not self.names:
            return
        if not Path(self.binary).exists():
            step("--profile needs py-spy: pip install py-spy")
            self.names = []
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            pid = self._pid(name)
            if pid is None:
                continue
            out = self.out_dir / f"{figure}-{name}.txt"
            argv = [self.binary, "record", "--pid", str(pid), "--rate", "100", "--format",
                    "raw", "--output", str(out), "--nonblocking"]
            self.running.append((name, out, subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))

    def stop(self) -> None:
        for name, out, process in self.running:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if out.exists():
                step(f"profile of {name} ({out}):")
                for line in summarise(out):
                    step(f"    {line}")
        self.running = []


def summarise(path: Path, top: int = 12, ours: tuple[str, ...] = (
        "shared/", "gateway/", "sender/", "ingest/", "stats/", "simulator/", "nx_27017/",
        "neosqlite/")) -> list[str]:
    """The functions of Relay (and of the database server) most often on the stack."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        total += int(count)
        for frame in {LINE.sub(")", f) for f in stack.split(";")}:
            if any(part in frame for part in ours):
                inclusive[frame] += int(count)
    return [f"{n / total:6.1%}  {frame[:110]}" for frame, n in inclusive.most_common(top)] \
        if total else ["(no samples)"]
