"""Figures the reliability tests measure (faults survived, inputs rejected, p99 ...), for benchmarks/reliability.py.

A test calls `record(section, what, value)` next to the assertion the figure backs. Under `make test` nothing is
kept; `benchmarks/reliability.py` sets RELIABILITY_FIGURES to a JSON-lines file and renders the table from it.
`soak()` tells a test to run its long variant (`make soak`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def soak() -> bool:
    return os.environ.get("RELIABILITY_SOAK") == "1"


def scaled(quick: int, long: int) -> int:
    """How many of something (examples, clients, seconds) a test uses: `quick` in make test, `long` in make soak."""
    return long if soak() else quick


def record(section: str, what: str, value: object) -> None:
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with Path(path).open("a") as figures:
            figures.write(json.dumps({"section": section, "what": what, "value": value}) + "\n")
