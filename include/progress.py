"""Progress bars for the command-line tools (seeding, benchmarks): tqdm on a terminal, nothing in logs or CI."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Yield items while a bar on stderr counts them; the bar shows only when stderr is a terminal."""
    from tqdm import tqdm  # imported here: include/ is imported by DAG files, which must parse fast

    yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True)


def note(line: str) -> None:
    """A line on stderr that leaves a running bar intact (tqdm redraws it below the line)."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
