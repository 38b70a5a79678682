"""Durable state: one SQLite row per resource, rewritten on every change.

Each resource is a JSON document (its create request plus what SageMaker tracks about it). SQLite in WAL
mode with synchronous=FULL means a `kill -9` loses at most the change being written, never a resource.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode(obj: dict) -> Any:
    if "__datetime__" in obj and len(obj) == 1:
        return datetime.fromisoformat(obj["__datetime__"])
    return obj


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS resources ("
            " region TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,"
            " PRIMARY KEY (region, kind, name))"
        )

    def put(self, region: str, kind: str, name: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, default=_encode)
        with self._lock:
            self._db.execute(
                "INSERT INTO resources (region, kind, name, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (region, kind, name) DO UPDATE SET body = excluded.body",
                (region, kind, name, text),
            )

    def delete(self, region: str, kind: str, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM resources WHERE region = ? AND kind = ? AND name = ?", (region, kind, name))

    def load(self, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT region, name, body FROM resources WHERE kind = ? ORDER BY rowid", (kind,)
            ).fetchall()
        for region, name, body in rows:
            yield region, name, json.loads(body, object_hook=_decode)

    def close(self) -> None:
        with self._lock:
            self._db.close()
