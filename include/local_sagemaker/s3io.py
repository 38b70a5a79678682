"""S3 transfers for jobs and endpoints: channels down, artifacts up, checkpoints both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ChannelError(Exception):
    """A channel cannot be downloaded; the message is the job's FailureReason."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _relative(prefix: str, key: str) -> Path:
    rel = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts:
        raise ChannelError(f"S3 key {key!r} would be written outside the channel directory")
    return path


def list_keys(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend(o for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    return objects


def download_prefix(s3: Any, uri: str, dest: Path) -> int:
    """Download every object under uri into dest, keeping paths relative to the prefix."""
    from botocore.exceptions import ClientError

    bucket, prefix = split_s3_uri(uri)
    try:
        objects = list_keys(s3, bucket, prefix)
    except ClientError as exc:
        raise ChannelError(f"Cannot list {uri}: {exc.response['Error'].get('Message', exc)}") from exc
    dest.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        target = dest / _relative(prefix, obj["Key"])
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["Key"], str(target))
    return len(objects)


def upload_file(s3: Any, path: Path, uri: str) -> None:
    bucket, key = split_s3_uri(uri)
    s3.upload_file(str(path), bucket, key)


def download_file(s3: Any, uri: str, path: Path) -> None:
    bucket, key = split_s3_uri(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(path))


class CheckpointSync:
    """Mirror a local checkpoint directory to CheckpointConfig.S3Uri, uploading only what changed.

    SageMaker syncs /opt/ml/checkpoints continuously while a job runs and restores it on restart; a job
    that is interrupted loses at most the checkpoints written since the last sync.
    """

    def __init__(self, s3: Any, local: Path, uri: str) -> None:
        self.s3 = s3
        self.local = local
        self.bucket, prefix = split_s3_uri(uri)
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        self._sent: dict[str, tuple[int, int]] = {}

    def restore(self) -> int:
        self.local.mkdir(parents=True, exist_ok=True)
        objects = list_keys(self.s3, self.bucket, self.prefix)
        for obj in objects:
            target = self.local / _relative(self.prefix, obj["Key"])
            target.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(self.bucket, obj["Key"], str(target))
            stat = target.stat()
            self._sent[str(target.relative_to(self.local))] = (stat.st_size, stat.st_mtime_ns)
        return len(objects)

    def push(self) -> int:
        sent = 0
        if not self.local.is_dir():
            return 0
        for path in sorted(self.local.rglob("*")):
            if not path.is_file() or path.name.startswith(".") or path.suffix == ".tmp":
                continue
            rel = str(path.relative_to(self.local))
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # the script rotated it away between listing and reading
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._sent.get(rel) == signature:
                continue
            try:
                self.s3.upload_file(str(path), self.bucket, self.prefix + rel)
            except FileNotFoundError:
                continue
            self._sent[rel] = signature
            sent += 1
        return sent
