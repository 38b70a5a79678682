"""S3 that survives a restart: moto keeps objects in memory, so we mirror them to disk after every write.

After each S3 write request that succeeds, the gateway calls `after_write(bucket, key, expect)`, which compares
moto's versions of that key (or, for a request that may change more, of every key in the bucket) and the
bucket's multipart uploads in progress with what is stored, and writes what changed before the client sees
its success. `restore()` puts everything back into moto at start-up: every version of every object with its
VersionId, in order, delete markers included; bytes, ETag (multipart ones too), Content-Type and metadata,
tags, LastModified, storage class, checksum, encryption and object lock settings; each bucket's versioning
status; multipart uploads in progress with their upload ids and parts. `benchmarks/s3_persistence.py` measures
this against moto's own recorder, whose request replay loses multipart uploads (their upload ids do not
survive).

A write that cannot be confirmed on disk is logged at ERROR with its bucket and key and followed by a reconcile
of the bucket from moto's state: storing raised, or moto does not hold at the key what the request should have
left there, or (checked while no other write to the bucket is in flight) moto's keys are not the stored ones.
`reconcile()` also runs on a clean shutdown, and logs at ERROR anything it had to repair. So a persistence bug
shows in the log, and in a test, rather than only as an object missing after some later restart.

Bytes go to a new file per version (or part), fsynced before the SQLite transaction that names it commits;
a file is deleted only after the rows that named it are gone. A `kill -9` at any point therefore leaves either
the old or the new state of the key; files no row names (a write cut short) are removed at restore.

Once a version's file is committed, moto stops holding its bytes: the object's buffer is swapped for a
`StoredBytes`, which opens the file for each read and keeps no descriptor open. So the service's memory and open
files do not grow with what is stored (a year of nightly runs stores ~1 GiB), and objects restored at start-up
are never read into memory until a client asks for them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from . import DEFAULT_ACCOUNT_ID

log = logging.getLogger(__name__)


def _s3_backend() -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


# A stored version: the signature of the moto object it came from, and the file holding its bytes (None for a
# delete marker). A stored upload: its own signature and, per part number, the part's signature and file.
_Version = tuple[tuple[Any, ...], str | None]
_Upload = tuple[tuple[Any, ...], dict[int, tuple[tuple[Any, ...], str]]]


class S3Persistence:
    def __init__(self, directory: Path) -> None:
        self.objects = directory / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counting = threading.Lock()
        self._in_flight: Counter[str | None] = Counter()  # write requests per bucket, from moto to persisted
        self._db = sqlite3.connect(directory / "s3.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, region TEXT, versioning TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS versions (bucket TEXT, key TEXT, position INTEGER, version_id TEXT,"
            " delete_marker INTEGER, file TEXT, etag TEXT, metadata TEXT, tags TEXT, last_modified TEXT,"
            " multipart TEXT, attributes TEXT, PRIMARY KEY (bucket, key, position))"
        )
        if "attributes" not in {row[1] for row in self._db.execute("PRAGMA table_info(versions)")}:
            self._db.execute("ALTER TABLE versions ADD COLUMN attributes TEXT")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, bucket TEXT, key TEXT, metadata TEXT,"
            " tags TEXT, storage TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS parts (upload TEXT, number INTEGER, file TEXT, etag TEXT,"
            " PRIMARY KEY (upload, number))"
        )
        self._migrate_latest_only_state()
        # What is on disk, per bucket: its (region, versioning), its keys' versions and its uploads in progress.
        self._buckets: dict[str, tuple[str, str | None]] = {}
        self._keys: dict[str, dict[str, tuple[_Version, ...]]] = {}
        self._uploads: dict[str, dict[str, _Upload]] = {}

    def _migrate_latest_only_state(self) -> None:
        """State written before versions were kept has one `objects` row per key: it becomes that key's only
        version, whose VersionId was never stored (restore gives it a new one, as it always did)."""
        if not self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'objects'").fetchone():
            return
        with self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO versions (bucket, key, position, version_id, delete_marker, file, etag,"
                " metadata, tags, last_modified, multipart)"
                " SELECT bucket, key, 0, NULL, 0, file, etag, metadata, tags, last_modified, NULL FROM objects"
            )
            self._db.execute("DROP TABLE objects")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- start-up ------------------------------------------------------------------------------------------
    def restore(self) -> int:
        """Put the stored state into moto; the number of object versions (delete markers included) restored."""
        backend = _s3_backend()
        count = 0
        with self._lock:
            for name, region, versioning in self._db.execute("SELECT name, region, versioning FROM buckets"):
                if name not in backend.buckets:
                    backend.create_bucket(name, region)
                if versioning:
                    backend.put_bucket_versioning(name, versioning)
                self._buckets[name] = (region, versioning)
                self._keys[name] = {}
                self._uploads[name] = {}
            rows = self._db.execute(
                "SELECT bucket, key, version_id, delete_marker, file, etag, metadata, tags, last_modified, multipart,"
                " attributes FROM versions ORDER BY bucket, key, position"
            ).fetchall()
            grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
            for row in rows:
                grouped.setdefault((row[0], row[1]), []).append(row[2:])
            for (bucket_name, key_name), versions in grouped.items():
                count += self._restore_key(backend, bucket_name, key_name, versions)
            for upload_id, bucket_name, key_name, metadata, tags, storage in self._db.execute(
                "SELECT id, bucket, key, metadata, tags, storage FROM uploads"
            ).fetchall():
                if bucket_name in backend.buckets:
                    self._restore_upload(backend, upload_id, bucket_name, key_name, metadata, tags, storage)
            self._remove_unreferenced_files()
        return count

    def _restore_key(self, backend: Any, bucket_name: str, key_name: str, rows: list[tuple[Any, ...]]) -> int:
        bucket = backend.buckets.get(bucket_name)
        if bucket is None:
            log.error(
                "stored versions of bucket %r key %r, a bucket that is not stored: not restored", bucket_name, key_name
            )
            return 0
        restored: list[Any] = []
        kept: list[_Version] = []
        for version_id, marker, file, etag, metadata, tags, last_modified, multipart, attributes in rows:
            if marker:
                obj = _delete_marker(key_name, restored[-1] if restored else None)
            else:
                try:
                    size = (self.objects / file).stat().st_size
                except OSError:
                    log.exception(
                        "bucket %r key %r version %r: its stored bytes are missing", bucket_name, key_name, version_id
                    )
                    continue
                obj = _fake_key(backend, bucket, key_name, etag)
                _serve_from_file(obj, StoredBytes(self.objects / file), size)
                obj.set_metadata(json.loads(metadata))
            # Versions stored before VersionIds were kept get one as moto would have given them.
            obj._version_id = version_id or ("null" if not bucket.is_versioned else str(uuid.uuid4()))
            obj.last_modified = datetime.fromisoformat(last_modified)
            if not marker:
                obj._is_versioned = obj._version_id != "null"  # what moto sets: it decides the version-id header
                if json.loads(tags):  # tags are held by ARN, which ends with the VersionId
                    backend.tagger.tag_resource(obj.arn, backend.tagger.convert_dict_to_tags_input(json.loads(tags)))
                if multipart:
                    obj.multipart = _completed_upload(backend, bucket, key_name, json.loads(multipart))
                for name, value in json.loads(attributes or "{}").items():
                    setattr(obj, name, value)
            restored.append(obj)
            kept.append((_signature(backend, obj), file))
        if restored:
            bucket.keys.setlist(key_name, restored)
            self._keys[bucket_name][key_name] = tuple(kept)
        return len(restored)

    def _restore_upload(
        self, backend: Any, upload_id: str, bucket_name: str, key_name: str, metadata: str, tags: str, storage: str
    ) -> None:
        from moto.s3.utils import CaseInsensitiveDict

        bucket = backend.buckets[bucket_name]
        upload = backend.create_multipart_upload(
            bucket_name,
            key_name,
            CaseInsensitiveDict(json.loads(metadata)),
            storage,
            json.loads(tags),
            None,
            None,
            None,
        )
        # Clients hold the upload id from CreateMultipartUpload: the upload must keep it.
        del bucket.multiparts[upload.id]
        upload.id = upload_id
        bucket.multiparts[upload_id] = upload
        parts = {}
        for number, file in self._db.execute(
            "SELECT number, file FROM parts WHERE upload = ? ORDER BY number", (upload_id,)
        ).fetchall():
            part = upload.set_part(number, (self.objects / file).read_bytes())
            parts[number] = (_part_signature(part), file)
        self._uploads[bucket_name][upload_id] = (_upload_signature(upload), parts)

    def _remove_unreferenced_files(self) -> None:
        named = {row[0] for row in self._db.execute("SELECT file FROM versions WHERE file IS NOT NULL")}
        named |= {row[0] for row in self._db.execute("SELECT file FROM parts")}
        for path in self.objects.iterdir():
            if path.name not in named:
                path.unlink(missing_ok=True)

    # --- after each write ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, bucket: str | None) -> Iterator[None]:
        """Around a write request, from before moto sees it until it is persisted: while no other write to the
        same bucket is in between, `after_write` can check the whole bucket against moto without a false alarm."""
        with self._counting:
            self._in_flight[bucket] += 1
        try:
            yield
        finally:
            with self._counting:
                self._in_flight[bucket] -= 1

    def after_write(self, bucket: str | None, key: str | None = None, expect: str | None = None) -> bool:
        """Store what a successful write changed: `key` of `bucket`, all of `bucket`, or (None) every bucket.

        `expect` says what moto must now hold at `key`: "new" (a version this request wrote: PutObject,
        CopyObject), "present" (an object) or "absent" (none). When it does not, or, with no other write to the
        bucket in flight, when moto's keys are not the stored ones, the request was understood differently here
        and in moto: that is logged at ERROR and the bucket reconciled from moto's state. False when the write
        could not be persisted even so: the client must not be told it succeeded.
        """
        try:
            with self._lock:
                changed = self._persist(bucket, key)
                with self._counting:
                    alone = self._in_flight[bucket] <= 1 and self._in_flight[None] == (bucket is None)
                contradiction = self._contradiction(bucket, key, expect, (bucket, key) in changed, alone)
            if contradiction is None:
                return True
            log.error(
                "S3 write to bucket %r key %r succeeded, but %s: the request named an object other than the one moto "
                "wrote; reconciling the bucket from moto's state",
                bucket,
                key,
                contradiction,
            )
        except Exception:
            log.exception(
                "could not persist S3 write to bucket %r key %r; reconciling the bucket from moto's state", bucket, key
            )
        return self.reconcile(bucket)

    def reconcile(self, bucket: str | None = None) -> bool:
        """Make what is stored equal moto's state, for `bucket` or (None) every bucket; False if that failed.

        Nothing should differ by then: each difference found is logged at ERROR, with its bucket and key.
        """
        try:
            with self._lock:
                repaired = self._persist(bucket, None)
        except Exception:
            log.exception("could not reconcile S3 state of %s from moto", f"bucket {bucket!r}" if bucket else "S3")
            return False
        for bucket_name, key_name in repaired:
            what = f"key {key_name!r}" if key_name is not None else "its versioning or uploads in progress"
            log.error("reconcile: bucket %r %s differed from moto's state and was stored again", bucket_name, what)
        return True

    def _contradiction(
        self, bucket_name: str | None, key_name: str | None, expect: str | None, changed: bool, alone: bool
    ) -> str | None:
        if not bucket_name or key_name is None:
            return None
        bucket = _s3_backend().buckets.get(bucket_name)
        if bucket is None:
            return None
        latest = bucket.keys.get(key_name)
        live = latest is not None and not _is_delete_marker(latest)
        if expect in ("new", "present") and not live:
            return f"moto holds {'no object' if latest is None else 'a delete marker'} at that key"
        if expect == "absent" and live:
            return "moto holds an object at that key"
        # Other writes to the bucket in flight may have changed it, or be about to persist what they did.
        if alone and expect == "new" and not changed:
            return "moto's latest version of that key is not one this request wrote"
        if alone and set(bucket.keys) != set(self._keys.get(bucket_name, {})):
            differ = sorted(set(bucket.keys) ^ set(self._keys.get(bucket_name, {})))
            return f"moto's keys are not the ones stored (differing: {differ[:5]!r})"
        return None

    def _persist(self, bucket_name: str | None, key_name: str | None) -> list[tuple[str, str | None]]:
        """One transaction for all a request changed (a completed upload's object and the upload's removal, a
        batch delete's keys), so a kill leaves all of it or none; the (bucket, key) pairs that differed."""
        pending = _Pending()
        try:
            with self._transaction():
                changed = self._sync(bucket_name, key_name, pending)
                if pending.written:
                    _fsync_directory(self.objects)
        except BaseException:
            self._unlink(set(pending.written))
            raise
        for update in pending.updates:
            update()
        self._unlink(pending.replaced - set(pending.written))
        return changed

    def _sync(self, bucket_name: str | None, key_name: str | None, pending: _Pending) -> list[tuple[str, str | None]]:
        backend = _s3_backend()
        live = dict(backend.buckets)
        names = [bucket_name] if bucket_name else sorted(set(live) | set(self._buckets))
        changed: list[tuple[str, str | None]] = []
        for name in names:
            bucket = live.get(name)
            if bucket is None:
                if name in self._buckets:
                    self._forget_bucket(name, pending)
                    changed.append((name, None))
                continue
            settings = (bucket.region_name, bucket.versioning_status)
            if self._buckets.get(name) != settings:
                self._db.execute(
                    "INSERT OR REPLACE INTO buckets (name, region, versioning) VALUES (?, ?, ?)", (name, *settings)
                )
                pending.updates.append(partial(self._buckets.__setitem__, name, settings))
                changed.append((name, None))
            stored = self._keys.get(name, {})
            # A request on one object changes only that object: no need to look at the rest of the bucket.
            key_names = [key_name] if key_name is not None else sorted(set(bucket.keys) | set(stored))
            changed += [(name, k) for k in key_names if self._sync_key(backend, bucket, k, pending)]
            if self._sync_uploads(bucket, pending):
                changed.append((name, None))
        return changed

    def _sync_key(self, backend: Any, bucket: Any, key_name: str, pending: _Pending) -> bool:
        versions = list(bucket.keys.getlist(key_name, None) or [])
        signatures = [_signature(backend, v) for v in versions]
        stored = self._keys.get(bucket.name, {}).get(key_name, ())
        if [s for s, _ in stored] == signatures:
            return False
        # A version whose bytes are already on disk keeps its file; only new bytes are written.
        files = {_content(s): f for s, f in stored}
        rows = []
        kept: list[_Version] = []
        for position, (version, signature) in enumerate(zip(versions, signatures, strict=True)):
            described: tuple[Any, ...]
            if _is_delete_marker(version):
                file, described = None, (1, None, None, None, None, None, None)
            else:
                file = files.get(_content(signature)) or pending.write(self, version.value)
                upload = version.multipart
                described = (
                    0,
                    file,
                    version.etag,
                    json.dumps(dict(version.metadata)),
                    json.dumps(_tags(backend, version)),
                    json.dumps({"id": upload.id, "parts": list(upload.partlist)}) if upload else None,
                    json.dumps(_attributes(version)),
                )
            marker, file_column, etag, metadata, tags, multipart, attributes = described
            rows.append(
                (bucket.name, key_name, position, version.version_id, marker, file_column, etag, metadata, tags)
                + (version.last_modified.isoformat(), multipart, attributes)
            )
            kept.append((signature, file))
            if file is not None:
                pending.updates.append(partial(self._serve_from_disk, version, file))
        self._db.execute("DELETE FROM versions WHERE bucket = ? AND key = ?", (bucket.name, key_name))
        self._db.executemany(
            "INSERT INTO versions (bucket, key, position, version_id, delete_marker, file, etag, metadata, tags,"
            " last_modified, multipart, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        pending.updates.append(lambda: self._remember_key(bucket.name, key_name, tuple(kept)))
        pending.replaced |= {f for _, f in stored if f} - {f for _, f in kept}
        return True

    def _serve_from_disk(self, version: Any, file: str) -> None:
        """Drop moto's copy of a committed version's bytes: reads go to its file from now on. A completed
        multipart upload's parts become views of their ranges of that file when the object is exactly its
        parts in order (as every SDK uploads), so a HEAD of one part still answers."""
        path = self.objects / file
        upload = version.multipart
        parts = [upload.parts.get(number) for number in upload.partlist] if upload else []
        if parts and None not in parts and sum(part.contentsize for part in parts) == version.contentsize:
            start = 0
            for part in parts:
                _serve_from_file(part, StoredBytes(path, start, part.contentsize), part.contentsize)
                start += part.contentsize
        _serve_from_file(version, StoredBytes(path), version.contentsize)

    def _remember_key(self, bucket_name: str, key_name: str, versions: tuple[_Version, ...]) -> None:
        if versions:
            self._keys.setdefault(bucket_name, {})[key_name] = versions
        else:
            self._keys.get(bucket_name, {}).pop(key_name, None)

    def _sync_uploads(self, bucket: Any, pending: _Pending) -> bool:
        live = dict(bucket.multiparts)
        stored = self._uploads.get(bucket.name, {})
        changed = False
        for upload_id in set(stored) - set(live):  # completed or aborted
            self._db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            self._db.execute("DELETE FROM parts WHERE upload = ?", (upload_id,))
            pending.updates.append(partial(stored.pop, upload_id, None))
            pending.replaced |= {f for _, f in stored[upload_id][1].values()}
            changed = True
        for upload_id, upload in live.items():
            parts = dict(upload.parts)
            signature = _upload_signature(upload)
            part_signatures = {number: _part_signature(part) for number, part in parts.items()}
            old_signature, old_parts = stored.get(upload_id, (None, {}))
            if signature == old_signature and part_signatures == {n: s for n, (s, _) in old_parts.items()}:
                continue
            new_parts: dict[int, tuple[tuple[Any, ...], str]] = {}
            for number, part_signature in part_signatures.items():
                old = old_parts.get(number)
                if old is not None and old[0] == part_signature:
                    new_parts[number] = old
                else:
                    new_parts[number] = (part_signature, pending.write(self, parts[number].value))
            self._db.execute(
                "INSERT OR REPLACE INTO uploads (id, bucket, key, metadata, tags, storage) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    upload_id,
                    bucket.name,
                    upload.key_name,
                    json.dumps(dict(upload.metadata or {})),
                    json.dumps(upload.tags or {}),
                    upload.storage,
                ),
            )
            self._db.execute("DELETE FROM parts WHERE upload = ?", (upload_id,))
            self._db.executemany(
                "INSERT INTO parts (upload, number, file, etag) VALUES (?, ?, ?, ?)",
                [(upload_id, n, f, parts[n].etag) for n, (_, f) in new_parts.items()],
            )
            pending.updates.append(partial(self._remember_upload, bucket.name, upload_id, (signature, new_parts)))
            pending.replaced |= {f for _, f in old_parts.values()} - {f for _, f in new_parts.values()}
            changed = True
        return changed

    def _remember_upload(self, bucket_name: str, upload_id: str, entry: _Upload) -> None:
        self._uploads.setdefault(bucket_name, {})[upload_id] = entry

    def _forget_bucket(self, name: str, pending: _Pending) -> None:
        pending.replaced |= {f for versions in self._keys.get(name, {}).values() for _, f in versions if f}
        pending.replaced |= {f for _, parts in self._uploads.get(name, {}).values() for _, f in parts.values()}
        self._db.execute("DELETE FROM versions WHERE bucket = ?", (name,))
        self._db.execute("DELETE FROM parts WHERE upload IN (SELECT id FROM uploads WHERE bucket = ?)", (name,))
        self._db.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
        self._db.execute("DELETE FROM buckets WHERE name = ?", (name,))
        for cache in (self._buckets, self._keys, self._uploads):
            pending.updates.append(partial(cache.pop, name, None))

    def _write_file(self, value: bytes) -> str:
        name = uuid.uuid4().hex
        with open(self.objects / name, "xb") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        return name

    def _unlink(self, files: set[str]) -> None:
        for file in files:
            (self.objects / file).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Pending:
    """What a sync does besides its SQLite rows: files it wrote (deleted again if the transaction fails), and
    cache updates and deletions of replaced files, done only once the transaction has committed."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.replaced: set[str] = set()
        self.updates: list[Callable[[], Any]] = []

    def write(self, persistence: S3Persistence, value: bytes) -> str:
        file = persistence._write_file(value)
        self.written.append(file)
        return file


class StoredBytes:
    """What moto reads an object's bytes through (its `_value_buffer`: seek, read, close), served from the
    object's file, or a range of it, opened for each read: nothing in memory, no descriptor held."""

    def __init__(self, path: Path, start: int = 0, length: int | None = None) -> None:
        self.path, self.start, self.length = path, start, length
        self.position = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET:
            raise io.UnsupportedOperation("stored S3 bytes seek only from the start")
        self.position = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        remaining = None if self.length is None else max(self.length - self.position, 0)
        if size is None or size < 0:
            size = -1 if remaining is None else remaining
        elif remaining is not None:
            size = min(size, remaining)
        with open(self.path, "rb") as handle:
            handle.seek(self.start + self.position)
            data = handle.read(size)
        self.position += len(data)
        return data

    def close(self) -> None:
        """Nothing is open; the file is deleted by the persistence once no stored version names it."""


def _serve_from_file(key: Any, stored: StoredBytes, size: int) -> None:
    with key.lock:  # moto reads the buffer under this lock
        previous, key._value_buffer = key._value_buffer, stored
        key.contentsize = size
    previous.close()


def _fsync_directory(path: Path) -> None:
    # New files' names must be on disk before a committed row names them (power loss, not only kill -9).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_delete_marker(version: Any) -> bool:
    from moto.s3.models import FakeDeleteMarker

    return isinstance(version, FakeDeleteMarker)


def _tags(backend: Any, key: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in backend.get_object_tagging(key).get("Tags", [])}


def _signature(backend: Any, version: Any) -> tuple[Any, ...]:
    # moto makes a new object for every write of a version, so identity, VersionId, time and ETag tell versions
    # apart without reading their bytes (`_content`); tags and metadata are compared too, as they change in place.
    if _is_delete_marker(version):
        return ("marker", id(version), version.version_id, version.last_modified)
    content = (id(version), version.version_id, version.last_modified, version.etag)
    tags = tuple(sorted(_tags(backend, version).items()))
    changing = (tuple(sorted(dict(version.metadata).items())), tuple(sorted(_attributes(version).items())))
    return ("object", content, tags, *changing)


# What else a client set on a version and reads back (HEAD and GET answer them); moto keeps each as an attribute.
# Object ACLs are not kept.
_ATTRIBUTES = (
    "_storage_class",
    "encryption",
    "kms_key_id",
    "bucket_key_enabled",
    "website_redirect_location",
    "checksum_algorithm",
    "checksum_value",
    "checksum_type",
    "lock_mode",
    "lock_legal_status",
    "lock_until",
)


def _attributes(version: Any) -> dict[str, Any]:
    values = {name: getattr(version, name, None) for name in _ATTRIBUTES}
    # A checksum moto read from the body of a chunked upload is bytes.
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in values.items() if v is not None}


def _content(signature: tuple[Any, ...]) -> Any:
    return signature[1] if signature[0] == "object" else None


def _upload_signature(upload: Any) -> tuple[Any, ...]:
    return (id(upload), upload.key_name)


def _part_signature(part: Any) -> tuple[Any, ...]:
    return (id(part), part.etag)


def _fake_key(backend: Any, bucket: Any, key_name: str, etag: str) -> Any:
    from moto.s3.models import FakeKey

    return FakeKey(
        name=key_name,
        value=b"",
        account_id=backend.account_id,
        region_name=bucket.region_name,
        etag=etag.strip('"'),
        bucket_name=bucket.name,
    )


def _delete_marker(key_name: str, previous: Any) -> Any:
    from types import SimpleNamespace

    from moto.s3.models import FakeDeleteMarker

    # moto links a marker to the version it hid; when that version is gone, a stand-in with the key's name does.
    return FakeDeleteMarker(key=previous if previous is not None else SimpleNamespace(name=key_name))


def _completed_upload(backend: Any, bucket: Any, key_name: str, multipart: dict[str, Any]) -> Any:
    """The upload a multipart object came from, without its parts' bytes: enough for the parts count it
    reports and for a retried CompleteMultipartUpload of the same upload id to succeed again, as on S3."""
    from moto.s3.models import FakeMultipart

    upload = FakeMultipart(key_name, {}, account_id=backend.account_id, region_name=bucket.region_name)
    upload.id = multipart["id"]
    upload.partlist = list(multipart["parts"])
    return upload
