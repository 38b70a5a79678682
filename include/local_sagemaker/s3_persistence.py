"""S3 that survives a restart: moto keeps objects in memory, so we mirror them to disk after every write.

After each S3 request that writes, the gateway calls `sync(bucket, key)`, which compares moto's bucket with
what is stored and writes only what changed (one SQLite row and one file per object), before the client
sees its success. `restore()` puts everything back into moto at start-up: bytes, ETag (multipart ones
too), Content-Type and metadata, tags, LastModified, and each bucket's versioning status. Only the latest
version of an object is kept. `benchmarks/s3_persistence.py` measures this against moto's own
recorder, whose request replay loses multipart uploads (their upload ids do not survive).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from . import DEFAULT_ACCOUNT_ID

log = logging.getLogger(__name__)


def _s3_backend() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


class S3Persistence:
    def __init__(self, directory: Path) -> None:
        self.objects = directory / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(directory / "s3.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, region TEXT, versioning TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (bucket TEXT, key TEXT, file TEXT, etag TEXT, metadata TEXT,"
            " tags TEXT, last_modified TEXT, PRIMARY KEY (bucket, key))"
        )
        # What is on disk, per bucket: key -> a cheap signature of the moto object it came from.
        self._seen: dict[str, dict[str, tuple[int, Any, str]]] = {}

    def restore(self) -> int:
        backend = _s3_backend()
        count = 0
        with self._lock:
            for name, region, versioning in self._db.execute("SELECT name, region, versioning FROM buckets"):
                if name not in backend.buckets:
                    backend.create_bucket(name, region)
                if versioning:
                    backend.put_bucket_versioning(name, versioning)
                self._seen[name] = {}
            rows = self._db.execute("SELECT bucket, key, file, etag, metadata, tags, last_modified FROM objects")
            for bucket, key_name, file, etag, metadata, tags, last_modified in rows.fetchall():
                value = (self.objects / file).read_bytes()
                key = backend.put_object(bucket, key_name, value, etag=etag.strip('"'), disable_notification=True)
                key.set_metadata(json.loads(metadata), replace=True)
                if json.loads(tags):
                    backend.put_object_tagging(key, json.loads(tags))
                key.last_modified = datetime.fromisoformat(last_modified)
                self._seen[bucket][key_name] = _signature(key)
                count += 1
        return count

    def sync(self, bucket: str | None = None, key: str | None = None, in_place: bool = False) -> None:
        """Store what a request changed: object `key` of `bucket`, all of `bucket`, or (None) every bucket.

        `in_place`: the request changed the object without replacing it (its tags), so rewrite it anyway.
        """
        try:
            with self._lock:
                self._sync(bucket, key, in_place)
        except Exception:  # persistence must never turn a client's success into an error
            log.exception("could not persist S3 state of bucket %s", bucket)

    def _sync(self, bucket_name: str | None, forced: str | None, in_place: bool) -> None:
        backend = _s3_backend()
        live = dict(backend.buckets)
        names = [bucket_name] if bucket_name else sorted(set(live) | set(self._seen))
        for name in names:
            bucket = live.get(name)
            if bucket is None:
                if name in self._seen:
                    for key_name in list(self._seen[name]):
                        self._forget(name, key_name)
                    self._db.execute("DELETE FROM buckets WHERE name = ?", (name,))
                    del self._seen[name]
                continue
            seen = self._seen.setdefault(name, {})
            self._db.execute(
                "INSERT OR REPLACE INTO buckets (name, region, versioning) VALUES (?, ?, ?)",
                (name, bucket.region_name, bucket.versioning_status),
            )
            if forced is not None:
                # A request on one object changes only that object: no need to look at the rest of the bucket.
                key = bucket.keys.get(forced)
                if hasattr(key, "etag"):  # not a delete marker
                    if in_place or seen.get(forced) != _signature(key):
                        self._store(backend, name, forced, key)
                elif forced in seen:
                    self._forget(name, forced)
                continue
            current = {k: v for k, v in list(bucket.keys.items()) if hasattr(v, "etag")}  # no delete markers
            for key_name, key in current.items():
                if seen.get(key_name) != _signature(key):
                    self._store(backend, name, key_name, key)
            for key_name in set(seen) - set(current):
                self._forget(name, key_name)

    def _store(self, backend: Any, bucket: str, key_name: str, key: Any) -> None:
        file = hashlib.sha256(f"{bucket}/{key_name}".encode()).hexdigest()
        tmp = self.objects / f"{file}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(key.value)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.objects / file)
        tags = {t["Key"]: t["Value"] for t in backend.get_object_tagging(key).get("Tags", [])}
        self._db.execute(
            "INSERT OR REPLACE INTO objects (bucket, key, file, etag, metadata, tags, last_modified)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                bucket,
                key_name,
                file,
                key.etag,
                json.dumps(dict(key.metadata)),
                json.dumps(tags),
                key.last_modified.isoformat(),
            ),
        )
        self._seen[bucket][key_name] = _signature(key)

    def _forget(self, bucket: str, key_name: str) -> None:
        row = self._db.execute("SELECT file FROM objects WHERE bucket = ? AND key = ?", (bucket, key_name)).fetchone()
        self._db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key_name))
        if row:
            (self.objects / row[0]).unlink(missing_ok=True)
        self._seen[bucket].pop(key_name, None)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _signature(key: Any) -> tuple[int, Any, str]:
    # moto makes a new FakeKey for every write of an object; identity, time and ETag together tell them apart
    # without reading the bytes. In-place changes (tags) come by a request naming the key, which is rewritten.
    return (id(key), key.last_modified, key.etag)
