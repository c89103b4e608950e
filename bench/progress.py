"""One line per step on stderr, with the time since the run began."""

from __future__ import annotations

import sys
import time

_T0 = time.monotonic()


def step(message: str) -> None:
    """Print ``[  12.3s] message`` at once."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)
