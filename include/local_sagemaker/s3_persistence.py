"""S3 that survives a restart: moto keeps objects in memory, so we mirror them to disk after every write.

After each mutating S3 request the gateway calls `sync()`, which compares moto's buckets with the on-disk
manifest (by ETag) and writes only what changed, before the client sees its success. `restore()` puts
everything back into moto at start-up. Measured alternative: moto's recorder replays requests, which breaks
on multipart uploads (new upload ids) and grows without bound with overwrites; a state mirror does neither.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from . import DEFAULT_ACCOUNT_ID


def _s3_backend() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


class S3Persistence:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.objects = directory / "objects"
        self.manifest_path = directory / "manifest.json"
        self._lock = threading.Lock()
        self.objects.mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, Any] = (
            json.loads(self.manifest_path.read_text()) if self.manifest_path.is_file() else {}
        )

    def restore(self) -> int:
        backend = _s3_backend()
        count = 0
        with self._lock:
            for bucket_name, bucket in self.manifest.items():
                if bucket_name not in backend.buckets:
                    backend.create_bucket(bucket_name, bucket["region"])
                for key_name, entry in bucket["keys"].items():
                    value = (self.objects / entry["file"]).read_bytes()
                    key = backend.put_object(bucket_name, key_name, value, disable_notification=True)
                    key.set_metadata(entry["metadata"], replace=True)
                    count += 1
        return count

    def sync(self) -> None:
        backend = _s3_backend()
        with self._lock:
            manifest: dict[str, Any] = {}
            for bucket_name, bucket in list(backend.buckets.items()):
                old_keys = (self.manifest.get(bucket_name) or {}).get("keys", {})
                keys: dict[str, Any] = {}
                for key_name, key in list(bucket.keys.items()):
                    etag = key.etag
                    old = old_keys.get(key_name)
                    if old and old["etag"] == etag:
                        keys[key_name] = old
                        continue
                    file = hashlib.sha256(f"{bucket_name}/{key_name}".encode()).hexdigest()
                    self._write(self.objects / file, key.value)
                    keys[key_name] = {"file": file, "etag": etag, "metadata": dict(key.metadata)}
                manifest[bucket_name] = {"region": bucket.region_name, "keys": keys}
            live = {entry["file"] for bucket in manifest.values() for entry in bucket["keys"].values()}
            dead = {entry["file"] for bucket in self.manifest.values() for entry in bucket["keys"].values()} - live
            if manifest != self.manifest:
                self._write(self.manifest_path, json.dumps(manifest).encode())
                self.manifest = manifest
            for file in dead:
                (self.objects / file).unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
