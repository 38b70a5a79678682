"""Durability: what the local SageMaker told a client it stored survives a kill -9, and nothing deleted comes back.

The model test drives the real service over HTTP with random sequences of S3 writes (put, multipart upload,
copy, delete, batch delete, tagging, metadata, versioning on and off, buckets) and SageMaker writes (training
and tuning jobs created, stopped and deleted, models, endpoint configurations, endpoints, tags), keeping a
model of what each answer told the client, as Jepsen's checkers do. At random moments in a stream of requests
it SIGKILLs the server and restarts it on the same state directory; then the service must hold exactly the
model: every acknowledged version of every object with its bytes, ETag, metadata and tags, which one is
latest, uploads in progress with their parts; every resource with the fields it was created with, its tags and
a status that is the one last seen or a legitimate successor (a terminal one, with its whole description,
never changes again); nothing deleted. The one request in flight when the kill lands may have happened or
not: the checker accepts either for that request, and nothing else.

It is a seeded random walk rather than hypothesis's state machine: a soak run of thousands of operations
draws far more than hypothesis lets one example draw, and shrinking a sequence whose kills land by wall-clock
time could not reproduce them. The seed is printed on failure (DURABILITY_SEED replays the operations).

Keys: 1-1,024 bytes of UTF-8 from every width of UTF-8, `%`, `+`, `?`, `#`, spaces, `.` and `..` segments,
runs of `/`, C1 controls, emoji. Left out, because no client can round-trip them through this service (or
through XML, which S3's API uses): C0 controls other than TAB (moto answers 500 to the XML operations that
name them, and cannot route a PutObject whose key holds LF at all), CR (XML parsers read it as LF in
DeleteObjects bodies and in moto's ListObjectVersions, which ignores EncodingType=url), U+FFFE and U+FFFF (not
XML characters) and surrogates (not UTF-8). S3 object tags have no leading or trailing whitespace and no key
starting with `aws` (moto strips the one from PutObjectTagging bodies and refuses the other); metadata is
ASCII, as HTTP headers carry it.

The model follows moto's S3, which differs from AWS where a bucket's versioning is Suspended: moto's writes
there replace every version of the key (AWS replaces only the `null` version), and a delete, even one naming a
version, removes them all (AWS adds a `null` delete marker, or removes the version named); a delete of a key
that does not exist adds no marker. That is what the service answers before any restart; what is checked here
is that a restart changes none of it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import random
import shutil
import statistics
import string
import subprocess
import tarfile
import threading
import time
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.local_sagemaker import REGION, ROLE, XGBOOST_IMAGE, LocalSageMakerProcess
from include.pipeline.tuning_summary import TERMINAL_STATUSES
from tests.reliability.figures import record, scaled
from tests.tuning_helpers import tuning_request

SETUP = "durability-setup"  # the sleeper's code and every job's output: written by the service, not modelled
FAILING_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/durability-unsupported:1"  # fails at once
SLEEPER = {"sagemaker_program": "sleep.py", "sagemaker_submit_directory": f"s3://{SETUP}/code/sleep.tar.gz"}
SLEEP_SECONDS = 30  # long enough to be stopped or killed while running, short enough to leave no process behind
# Parts of any size, so that multipart uploads stay small; moto derives its key buffer from the same setting.
SERVER_ENV = {"S3_UPLOAD_PART_MIN_SIZE": "1", "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1 << 20)}
PERSISTENCE_ERROR = "ERROR include.local_sagemaker.s3_persistence"
OBJECTIVE = [{"Name": "objective", "Regex": "objective=([0-9.]+)"}]  # never printed: the sleeper only sleeps


# --- what the client was told -------------------------------------------------------------------------------
@dataclass(repr=False)
class Version:
    version_id: str | None  # None: the write's answer was lost, so its VersionId is not known yet
    marker: bool = False
    body: bytes = b""
    etag: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = "binary/octet-stream"
    tags: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        if self.marker:
            return f"<delete marker {self.version_id}>"
        digest = hashlib.md5(self.body).hexdigest()[:8]  # noqa: S324 - a short name for the bytes
        return (
            f"<version {self.version_id}: {len(self.body)} bytes md5 {digest}.., ETag {self.etag}, "
            f"{self.content_type}, metadata {self.metadata}, tags {self.tags}>"
        )


@dataclass
class Upload:
    upload_id: str | None
    key: str
    metadata: dict[str, str]
    content_type: str
    tags: dict[str, str]
    parts: dict[int, tuple[bytes, str | None]] = field(default_factory=dict)  # number -> (bytes, ETag)


@dataclass
class Bucket:
    versioning: str | None = None
    keys: dict[str, list[Version]] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)

    def live(self, key: str) -> Version | None:
        versions = self.keys.get(key)
        return versions[-1] if versions and not versions[-1].marker else None

    def write(self, key: str, version: Version) -> None:
        # moto: only an Enabled bucket keeps older versions (see the module docstring for Suspended).
        if self.versioning == "Enabled":
            self.keys.setdefault(key, []).append(version)
        else:
            version.version_id = "null"
            self.keys[key] = [version]

    def delete(self, key: str, marker_id: str | None) -> None:
        if self.versioning != "Enabled":
            self.keys.pop(key, None)
        elif key in self.keys:
            self.keys[key].append(Version(marker_id, marker=True))


KINDS = {  # kind -> (describe call, its name parameter, its status field)
    "training-job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "tuning-job": (
        "describe_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
    ),
    "model": ("describe_model", "ModelName", None),
    "endpoint-config": ("describe_endpoint_config", "EndpointConfigName", None),
    "endpoint": ("describe_endpoint", "EndpointName", "EndpointStatus"),
}
ARN_FIELD = {
    "training-job": "TrainingJobArn",
    "tuning-job": "HyperParameterTuningJobArn",
    "model": "ModelArn",
    "endpoint-config": "EndpointConfigArn",
    "endpoint": "EndpointArn",
}


@dataclass
class Resource:
    kind: str
    name: str
    arn: str | None
    fields: dict[str, Any]  # "Path.To.Field" -> what every description must say
    tags: dict[str, str]
    sleeper: bool = False  # runs until stopped (or until a restart fails it)
    stop_requested: bool = False
    status: str | None = None  # as last observed
    pinned: dict[str, Any] | None = None  # the whole description once nothing may change it any more


@dataclass
class Model:
    buckets: dict[str, Bucket] = field(default_factory=dict)
    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # every SageMaker name used, lower-cased: never reused

    def live(self, kind: str) -> list[Resource]:
        return [r for (k, _), r in sorted(self.resources.items()) if k == kind]


# --- what a client may write ---------------------------------------------------------------------------------
# What makes a key awkward: percent signs, URL and XML syntax, dot segments, slash runs, every width of UTF-8.
KEY_PIECES = [
    *"%+?#&=; ~*'\"<>\\^`{}|[]!$(),:@\t\x7f\x85\x9f\xa0éüß\u2028\u200b\ufeff\ufffd😀\U0010fffd",
    *["%20", "%25", "%2F", "%2f", "%zz", "?x=1", "#frag", "&amp;", "  ", ".", "..", "/", "//", "./", "../"],
    *["..%2F", "日本語", "👩‍💻", "a", "key", "0", "a" * 200],
]


def code_point(rng: random.Random) -> str:
    """Any character an S3 key can hold here, from all four widths of UTF-8."""
    width = rng.random()
    if width < 0.5:
        return chr(rng.randrange(0x20, 0x7F)) if rng.random() < 0.97 else "\t"
    if width < 0.65:
        return chr(rng.randrange(0x7F, 0x800))  # DEL and the C1 controls are XML 1.0 characters
    if width < 0.85:
        point = rng.randrange(0x800, 0xFFFE)
        return chr(point) if not 0xD800 <= point <= 0xDFFF else "\ufffd"
    return chr(rng.randrange(0x10000, 0x110000))


def s3_key(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.4:
        key = "".join(rng.choice(KEY_PIECES) for _ in range(rng.randint(1, 6)))
    elif shape < 0.9:
        key = "".join(code_point(rng) for _ in range(rng.randint(1, 24)))
    else:  # at or near the limit of 1,024 bytes
        limit, key = rng.choice([1024, rng.randint(900, 1024)]), ""
        while len(key.encode()) < limit:
            key += code_point(rng)
    while len(key.encode()) > 1024:
        key = key[:-1]
    return key


def sagemaker_name(rng: random.Random, longest: int) -> str:
    """A name matching botocore's `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,N}`, of any length it allows."""
    alnum = string.ascii_letters + string.digits
    target = rng.choice([1, 2, longest, rng.randint(1, longest)])
    name = rng.choice(alnum)
    while len(name) < target:
        hyphens = "-" * rng.choice([0, 0, 0, 1, 2])
        name += (hyphens + rng.choice(alnum)) if len(name) + len(hyphens) < target else rng.choice(alnum)
    return name[:target]


def tag_text(rng: random.Random, low: int, high: int, categories: str, symbols: str) -> str:
    """Letters, numbers and separators of any script (Unicode categories), plus the tag symbols AWS allows."""
    out = []
    for _ in range(rng.choice([low, high, rng.randint(low, min(high, 12)), rng.randint(low, high)])):
        while True:
            char = rng.choice([rng.choice(string.ascii_letters + string.digits + symbols), code_point(rng)])
            if char in symbols or unicodedata.category(char)[0] in categories:
                break
        out.append(char)
    return "".join(out)


def sagemaker_tags(rng: random.Random, most: int = 3) -> dict[str, str]:
    tags = {}
    for _ in range(rng.randint(0, most)):
        key = tag_text(rng, 1, 128, "LNZ", "_.:/=+-@ ")
        if not key.lower().startswith("aws:"):  # reserved by AWS
            tags[key] = tag_text(rng, 0, 256, "LNZ", "_.:/=+-@ ")
    return tags


def s3_tags(rng: random.Random) -> dict[str, str]:
    tags = {}
    for _ in range(rng.choice([0, 1, 2, rng.randint(0, 10)])):
        key = tag_text(rng, 1, 128, "LNZ", "_.:/=+-@").strip()
        if key and not key.startswith("aws"):
            tags[key] = tag_text(rng, 0, 256, "LNZ", "_.:/=+-@").strip()
    return tags


def metadata(rng: random.Random) -> dict[str, str]:
    alphabet = string.ascii_lowercase + string.digits
    keys = {
        rng.choice(alphabet) + "".join(rng.choice(alphabet + "-_") for _ in range(rng.randint(0, 15)))
        for _ in range(rng.choice([0, 0, 1, 3]))
    }
    printable = [chr(c) for c in range(0x21, 0x7F)] + [" "]
    return {
        k: (rng.choice(printable[:-1]) + "".join(rng.choice(printable) for _ in range(rng.randint(0, 20)))).strip()
        for k in keys
    }


CONTENT_TYPES = ["text/plain", "application/octet-stream", "text/csv; charset=utf-8", "application/x-parquet"]


def body(rng: random.Random) -> bytes:
    size = rng.random()
    if size < 0.05:
        return b""
    if size < 0.8:
        return rng.randbytes(rng.randint(1, 512))
    return rng.randbytes(rng.randint(512, 16 * 1024) if size < 0.97 else 256 * 1024)


# --- operations --------------------------------------------------------------------------------------------
@dataclass
class Op:
    """One request: `send` makes it; `apply(model, answer)` records what the answer told the client, or, with
    answer None, what the model holds if the request happened but its answer was lost (unknowns left None)."""

    label: str
    send: Callable[[Any, Any], Any]  # (s3, sagemaker) -> answer
    apply: Callable[[Model, Any], None]
    refused: tuple[str, ...] = ()  # error codes that mean "not done", the model unchanged


def _answer(answer: Any, name: str, default: Any = None) -> Any:
    return answer.get(name, default) if answer is not None else default


def choose_bucket(model: Model, rng: random.Random) -> str:
    return rng.choice(sorted(model.buckets))


def choose_key(model: Model, rng: random.Random, bucket: str, live: bool = False) -> str | None:
    keys = sorted(k for k in model.buckets[bucket].keys if not live or model.buckets[bucket].live(k))
    if keys and rng.random() < 0.6:
        return rng.choice(keys)
    return None if live else s3_key(rng)


def op_put(model: Model, rng: random.Random) -> Op | None:
    bucket = choose_bucket(model, rng)
    key = choose_key(model, rng, bucket)
    data, meta, ctype, tags = body(rng), metadata(rng), rng.choice(CONTENT_TYPES), s3_tags(rng)
    extra: dict[str, Any] = {"Tagging": urllib.parse.urlencode(tags)} if tags else {}

    def apply(m: Model, answer: Any) -> None:
        version = Version(_answer(answer, "VersionId"), False, data, _answer(answer, "ETag"), dict(meta), ctype)
        m.buckets[bucket].write(key, version)
        version.tags = dict(tags)

    return Op(
        f"put {bucket}/{key!r} ({len(data)} bytes)",
        lambda s3, sm: s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=meta, ContentType=ctype, **extra),
        apply,
    )


def choose_version(model: Model, rng: random.Random, bucket: str) -> tuple[str, Version, dict[str, Any]] | None:
    """A key of `bucket` with an object, and its latest version or, now and then, one named by its VersionId."""
    key = choose_key(model, rng, bucket, live=True)
    if key is None:
        return None
    named = [v for v in model.buckets[bucket].keys[key] if not v.marker and v.version_id]
    if named and rng.random() < 0.3:
        version = rng.choice(named)
        return key, version, {"VersionId": version.version_id}
    return key, model.buckets[bucket].keys[key][-1], {}


def op_copy(model: Model, rng: random.Random, replace: bool) -> Op | None:
    source_bucket = choose_bucket(model, rng)
    chosen = choose_version(model, rng, source_bucket)
    if chosen is None:
        return None
    source_key, source, named = chosen
    copy_source = {"Bucket": source_bucket, "Key": source_key, **named}
    target_bucket = choose_bucket(model, rng) if not replace else source_bucket
    target_key = choose_key(model, rng, target_bucket) if not replace else source_key
    if (target_bucket, target_key) == (source_bucket, source_key):
        replace = True  # moto refuses a copy onto itself that changes nothing
    meta, ctype = (metadata(rng), rng.choice(CONTENT_TYPES)) if replace else (source.metadata, source.content_type)
    extra = {"MetadataDirective": "REPLACE", "Metadata": meta, "ContentType": ctype} if replace else {}
    src = copy.deepcopy(source)

    def apply(m: Model, answer: Any) -> None:
        etag = _answer(_answer(answer, "CopyObjectResult", {}), "ETag")
        version = Version(_answer(answer, "VersionId"), False, src.body, etag, dict(meta), ctype, dict(src.tags))
        m.buckets[target_bucket].write(target_key, version)

    return Op(
        f"copy {source_bucket}/{source_key!r} to {target_bucket}/{target_key!r}{' replacing metadata' * replace}",
        lambda s3, sm: s3.copy_object(Bucket=target_bucket, Key=target_key, CopySource=copy_source, **extra),
        apply,
    )


def op_delete(model: Model, rng: random.Random) -> Op | None:
    bucket = choose_bucket(model, rng)
    key = choose_key(model, rng, bucket)
    return Op(
        f"delete {bucket}/{key!r}",
        lambda s3, sm: s3.delete_object(Bucket=bucket, Key=key),
        lambda m, answer: m.buckets[bucket].delete(key, _answer(answer, "VersionId")),
    )


def op_delete_version(model: Model, rng: random.Random) -> Op | None:
    bucket = choose_bucket(model, rng)
    candidates = [(k, v) for k, vs in sorted(model.buckets[bucket].keys.items()) for v in vs if v.version_id]
    if not candidates:
        return None
    key, version = rng.choice(candidates)
    version_id = version.version_id

    def apply(m: Model, answer: Any) -> None:
        b = m.buckets[bucket]
        if b.versioning != "Enabled":  # moto deletes the whole key, whichever version is named
            b.keys.pop(key, None)
            return
        b.keys[key] = [v for v in b.keys.get(key, []) if v.version_id != version_id]
        if not b.keys[key]:
            del b.keys[key]

    return Op(
        f"delete version {version_id} of {bucket}/{key!r}",
        lambda s3, sm: s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id),
        apply,
    )


def op_batch_delete(model: Model, rng: random.Random) -> Op | None:
    bucket = choose_bucket(model, rng)
    keys = list(dict.fromkeys(choose_key(model, rng, bucket) for _ in range(rng.randint(1, 5))))

    def apply(m: Model, answer: Any) -> None:
        markers = {d["Key"]: d.get("DeleteMarkerVersionId") for d in _answer(answer, "Deleted", [])}
        for key in keys:
            m.buckets[bucket].delete(key, markers.get(key))

    return Op(
        f"batch delete {bucket}/{keys!r}",
        lambda s3, sm: s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]}),
        apply,
    )


def op_tagging(model: Model, rng: random.Random, remove: bool) -> Op | None:
    bucket = choose_bucket(model, rng)
    chosen = choose_version(model, rng, bucket)
    if chosen is None:
        return None
    key, target, extra = chosen
    index = next(i for i, v in enumerate(model.buckets[bucket].keys[key]) if v is target)
    tags = {} if remove else s3_tags(rng)
    remove = not tags  # moto answers 500 to an empty TagSet; DeleteObjectTagging is how a client clears them

    def apply(m: Model, answer: Any) -> None:
        m.buckets[bucket].keys[key][index].tags = dict(tags)

    if remove:
        send = lambda s3, sm: s3.delete_object_tagging(Bucket=bucket, Key=key, **extra)  # noqa: E731
    else:
        tag_set = {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        send = lambda s3, sm: s3.put_object_tagging(Bucket=bucket, Key=key, Tagging=tag_set, **extra)  # noqa: E731
    return Op(f"{'delete' if remove else 'put'} tags of {bucket}/{key!r} {extra}", send, apply)


def op_versioning(model: Model, rng: random.Random) -> Op | None:
    return op_versioning_to(choose_bucket(model, rng), rng.choice(["Enabled", "Suspended"]))


def op_versioning_to(bucket: str, status: str) -> Op:
    def apply(m: Model, answer: Any) -> None:
        m.buckets[bucket].versioning = status

    return Op(
        f"versioning of {bucket}: {status}",
        lambda s3, sm: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status}),
        apply,
    )


def op_create_bucket(model: Model, rng: random.Random) -> Op | None:
    if len(model.buckets) >= 5:
        return None
    name = "".join(rng.choice(string.ascii_lowercase + string.digits + "-") for _ in range(rng.randint(3, 40)))
    name = "b" + name.strip("-") + "0"
    if name in model.buckets or name == SETUP:
        return None
    return Op(
        f"create bucket {name}",
        lambda s3, sm: s3.create_bucket(Bucket=name),
        lambda m, answer: m.buckets.setdefault(name, Bucket()),
    )


def op_delete_bucket(model: Model, rng: random.Random) -> Op | None:
    empty = [n for n, b in sorted(model.buckets.items()) if not b.keys and not b.uploads]
    if len(model.buckets) <= 1 or not empty:
        return None
    name = rng.choice(empty)
    return Op(
        f"delete bucket {name}",
        lambda s3, sm: s3.delete_bucket(Bucket=name),
        lambda m, answer: m.buckets.pop(name, None),
    )


def op_upload_start(model: Model, rng: random.Random) -> Op | None:
    bucket = choose_bucket(model, rng)
    if len(model.buckets[bucket].uploads) >= 3:
        return None
    key = choose_key(model, rng, bucket)
    meta, ctype, tags = metadata(rng), rng.choice(CONTENT_TYPES), s3_tags(rng)
    extra = {"Tagging": urllib.parse.urlencode(tags)} if tags else {}

    def apply(m: Model, answer: Any) -> None:
        m.buckets[bucket].uploads.append(Upload(_answer(answer, "UploadId"), key, meta, ctype, tags))

    return Op(
        f"start upload of {bucket}/{key!r}",
        lambda s3, sm: s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=meta, ContentType=ctype, **extra),
        apply,
    )


def choose_upload(model: Model, rng: random.Random) -> tuple[str, int, Upload] | None:
    uploads = [(b, i, u) for b, bucket in sorted(model.buckets.items()) for i, u in enumerate(bucket.uploads)]
    uploads = [u for u in uploads if u[2].upload_id]
    return rng.choice(uploads) if uploads else None


def op_upload_part(model: Model, rng: random.Random) -> Op | None:
    chosen = choose_upload(model, rng)
    if chosen is None:
        return None
    bucket, index, upload = chosen
    number = rng.choice([*upload.parts, len(upload.parts) + 1, rng.randint(1, 10000)])
    data = rng.randbytes(rng.choice([1, rng.randint(1, 4096), 128 * 1024]))

    def apply(m: Model, answer: Any) -> None:
        # A part's ETag is the MD5 of its bytes, so it is known even when the answer was lost.
        etag = _answer(answer, "ETag") or f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - S3's own choice
        m.buckets[bucket].uploads[index].parts[number] = (data, etag)

    return Op(
        f"upload part {number} of {bucket}/{upload.key!r}",
        lambda s3, sm: s3.upload_part(
            Bucket=bucket, Key=upload.key, UploadId=upload.upload_id, PartNumber=number, Body=data
        ),
        apply,
    )


def op_upload_finish(model: Model, rng: random.Random, abort: bool) -> Op | None:
    chosen = choose_upload(model, rng)
    if chosen is None:
        return None
    bucket, index, upload = chosen
    if abort:
        return Op(
            f"abort upload of {bucket}/{upload.key!r}",
            lambda s3, sm: s3.abort_multipart_upload(Bucket=bucket, Key=upload.key, UploadId=upload.upload_id),
            lambda m, answer: m.buckets[bucket].uploads.pop(index),
        )
    if not upload.parts or any(etag is None for _, etag in upload.parts.values()):
        return None
    numbers = sorted(upload.parts)
    parts = [{"PartNumber": n, "ETag": upload.parts[n][1]} for n in numbers]
    data = b"".join(upload.parts[n][0] for n in numbers)

    def apply(m: Model, answer: Any) -> None:
        done = m.buckets[bucket].uploads.pop(index)
        version = Version(
            _answer(answer, "VersionId"),
            False,
            data,
            _answer(answer, "ETag"),
            done.metadata,
            done.content_type,
            done.tags,
        )
        m.buckets[bucket].write(done.key, version)

    return Op(
        f"complete upload of {bucket}/{upload.key!r} ({len(numbers)} parts)",
        lambda s3, sm: s3.complete_multipart_upload(
            Bucket=bucket, Key=upload.key, UploadId=upload.upload_id, MultipartUpload={"Parts": parts}
        ),
        apply,
    )


def fresh_name(model: Model, rng: random.Random, longest: int) -> str | None:
    name = sagemaker_name(rng, longest)
    # Names are never reused, deleted ones included: the test is about this service keeping what it was told.
    return None if name.lower() in model.names else name


def op_create(model: Model, rng: random.Random, kind: str) -> Op | None:  # noqa: C901 - one branch per kind
    longest = 32 if kind == "tuning-job" else 63
    name = fresh_name(model, rng, longest)
    if name is None:
        return None
    tags = sagemaker_tags(rng)
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    sleeper = len(running_sleepers(model)) < 2 and rng.random() < 0.25
    common = {
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{SETUP}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    algorithm = {"TrainingImage": XGBOOST_IMAGE if sleeper else FAILING_IMAGE, "TrainingInputMode": "File"}
    hyperparameters = dict(SLEEPER) if sleeper else {"eta": str(rng.random())}
    if kind == "training-job":
        request = {
            "TrainingJobName": name,
            "AlgorithmSpecification": algorithm,
            "HyperParameters": hyperparameters,
            **common,
        }
        fields = {
            "TrainingJobName": name,
            "AlgorithmSpecification.TrainingImage": algorithm["TrainingImage"],
            "HyperParameters": hyperparameters,
        }
        call = "create_training_job"
    elif kind == "tuning-job":
        definition = {
            "AlgorithmSpecification": {**algorithm, "MetricDefinitions": OBJECTIVE},
            "StaticHyperParameters": hyperparameters if sleeper else {},
            **common,
        }
        request = tuning_request(name, definition, max_jobs=3, parallel=1)
        fields = {
            "HyperParameterTuningJobName": name,
            "TrainingJobDefinition.AlgorithmSpecification.TrainingImage": algorithm["TrainingImage"],
        }
        call = "create_hyper_parameter_tuning_job"
    elif kind == "model":
        image = rng.choice([XGBOOST_IMAGE, FAILING_IMAGE])
        data = f"s3://{SETUP}/missing/{name}.tar.gz"  # so that an endpoint fails at once instead of serving
        container = {"Image": image, "ModelDataUrl": data}
        request = {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": container}
        fields = {"ModelName": name, "PrimaryContainer.Image": image, "PrimaryContainer.ModelDataUrl": data}
        call, sleeper = "create_model", False
    elif kind == "endpoint-config":
        models = model.live("model")
        if not models:
            return None
        chosen = rng.choice(models).name
        variant = {"VariantName": "v", "ModelName": chosen, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        request = {"EndpointConfigName": name, "ProductionVariants": [variant]}
        fields = {"EndpointConfigName": name, "ProductionVariants.0.ModelName": chosen}
        call, sleeper = "create_endpoint_config", False
    else:
        configs = model.live("endpoint-config")
        if not configs or len(model.live("endpoint")) >= 3:
            return None
        config = rng.choice(configs).name
        request = {"EndpointName": name, "EndpointConfigName": config}
        fields = {"EndpointName": name, "EndpointConfigName": config}
        call, sleeper = "create_endpoint", False
    if tag_list:
        request["Tags"] = tag_list

    def apply(m: Model, answer: Any) -> None:
        m.names.add(name.lower())
        m.resources[(kind, name)] = Resource(kind, name, _answer(answer, ARN_FIELD[kind]), fields, dict(tags), sleeper)

    return Op(f"create {kind} {name}{' (sleeper)' * sleeper}", lambda s3, sm: getattr(sm, call)(**request), apply)


def running_sleepers(model: Model, kind: str | None = None) -> list[Resource]:
    return [
        r
        for r in model.resources.values()
        if r.sleeper and not r.stop_requested and r.status in (None, "InProgress") and kind in (None, r.kind)
    ]


def op_stop(model: Model, rng: random.Random, kind: str) -> Op | None:
    running = sorted(running_sleepers(model, kind), key=lambda r: r.name)
    if not running:
        return None
    target = rng.choice(running)
    call, parameter = {
        "training-job": ("stop_training_job", "TrainingJobName"),
        "tuning-job": ("stop_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
    }[kind]

    def apply(m: Model, answer: Any) -> None:
        m.resources[(kind, target.name)].stop_requested = True

    # A sleeper may have finished since it was last seen: then the answer says it cannot be stopped.
    return Op(
        f"stop {kind} {target.name}",
        lambda s3, sm: getattr(sm, call)(**{parameter: target.name}),
        apply,
        ("ValidationException",),
    )


def op_delete_resource(model: Model, rng: random.Random, kind: str) -> Op | None:
    candidates = model.live(kind)
    if kind == "tuning-job":
        candidates = [r for r in candidates if not r.sleeper or r.stop_requested or r.status in TERMINAL_STATUSES]
    if not candidates:
        return None
    target = rng.choice(candidates)
    call, parameter = {
        "tuning-job": ("delete_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
        "model": ("delete_model", "ModelName"),
        "endpoint-config": ("delete_endpoint_config", "EndpointConfigName"),
        "endpoint": ("delete_endpoint", "EndpointName"),
    }[kind]

    def apply(m: Model, answer: Any) -> None:
        m.resources.pop((kind, target.name), None)
        m.deleted.add((kind, target.name))

    # Only a terminal tuning job can be deleted; whether this one is yet, the client learns from the answer.
    refused = ("ValidationException",) if kind == "tuning-job" else ()
    return Op(
        f"delete {kind} {target.name}", lambda s3, sm: getattr(sm, call)(**{parameter: target.name}), apply, refused
    )


def op_sagemaker_tags(model: Model, rng: random.Random, remove: bool) -> Op | None:
    tagged = [r for r in model.resources.values() if r.arn and (r.tags or not remove)]
    if not tagged:
        return None
    target = rng.choice(sorted(tagged, key=lambda r: (r.kind, r.name)))
    kind, name, arn = target.kind, target.name, target.arn
    if remove:
        keys = rng.sample(sorted(target.tags), rng.randint(1, len(target.tags)))

        def forget(m: Model, answer: Any) -> None:
            for key in keys:
                m.resources[(kind, name)].tags.pop(key, None)

        return Op(f"delete tags of {kind} {name}", lambda s3, sm: sm.delete_tags(ResourceArn=arn, TagKeys=keys), forget)
    tags = sagemaker_tags(rng, most=4) or {"k": "v"}

    def add(m: Model, answer: Any) -> None:
        m.resources[(kind, name)].tags.update(tags)

    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    return Op(f"add tags to {kind} {name}", lambda s3, sm: sm.add_tags(ResourceArn=arn, Tags=tag_list), add)


# Relative frequencies: mostly S3 writes, as a pipeline makes them, and every SageMaker write now and then.
OPERATIONS: list[tuple[float, Callable[[Model, random.Random], Op | None]]] = [
    (8, op_put),
    (2, lambda m, r: op_copy(m, r, replace=False)),
    (1, lambda m, r: op_copy(m, r, replace=True)),
    (2, op_delete),
    (1, op_delete_version),
    (1, op_batch_delete),
    (1, lambda m, r: op_tagging(m, r, remove=False)),
    (0.5, lambda m, r: op_tagging(m, r, remove=True)),
    (0.7, op_versioning),
    (0.3, op_create_bucket),
    (0.3, op_delete_bucket),
    (1, op_upload_start),
    (2, op_upload_part),
    (1, lambda m, r: op_upload_finish(m, r, abort=False)),
    (0.3, lambda m, r: op_upload_finish(m, r, abort=True)),
    (0.8, lambda m, r: op_create(m, r, "training-job")),
    (0.3, lambda m, r: op_stop(m, r, "training-job")),
    (0.4, lambda m, r: op_create(m, r, "tuning-job")),
    (0.3, lambda m, r: op_stop(m, r, "tuning-job")),
    (0.3, lambda m, r: op_delete_resource(m, r, "tuning-job")),
    (0.8, lambda m, r: op_create(m, r, "model")),
    (0.3, lambda m, r: op_delete_resource(m, r, "model")),
    (0.6, lambda m, r: op_create(m, r, "endpoint-config")),
    (0.2, lambda m, r: op_delete_resource(m, r, "endpoint-config")),
    (0.2, lambda m, r: op_create(m, r, "endpoint")),
    (0.2, lambda m, r: op_delete_resource(m, r, "endpoint")),
    (0.6, lambda m, r: op_sagemaker_tags(m, r, remove=False)),
    (0.3, lambda m, r: op_sagemaker_tags(m, r, remove=True)),
]


SHRINKING = {op_delete, op_delete_version, op_batch_delete}
MANY_VERSIONS = 150  # beyond this, deletions become five times likelier, so that a soak run's state stays bounded


def draw_op(model: Model, rng: random.Random) -> Op:
    versions = sum(len(v) for b in model.buckets.values() for v in b.keys.values())
    boost = 5 if versions > MANY_VERSIONS else 1
    weights = [w * boost if make in SHRINKING else w for w, make in OPERATIONS]
    while True:
        op = rng.choices([make for _, make in OPERATIONS], weights)[0](model, rng)
        if op is not None:
            return op


# --- what the service holds ----------------------------------------------------------------------------------
@dataclass
class Seen:
    """The service's state as a client reads it, for comparison with a model."""

    buckets: dict[str, str | None] = field(default_factory=dict)  # name -> versioning status
    versions: dict[tuple[str, str], dict[str, Version]] = field(default_factory=dict)  # (bucket, key) -> id -> v
    latest: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)  # -> (version id, marker)
    listed: dict[str, set[str]] = field(default_factory=dict)  # ListObjectsV2
    uploads: dict[str, dict[str, tuple[str, dict[int, tuple[str, int]]]]] = field(default_factory=dict)
    described: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    names: dict[str, set[str]] = field(default_factory=dict)  # kind -> names the List call shows
    reads: int = 0


def pages(call: Callable[..., Any], key: str, token_in: str, token_out: str, **params: Any) -> Iterator[Any]:
    while True:
        page = call(**params)
        yield from page.get(key, [])
        if not page.get(token_out):
            return
        params[token_in] = page[token_out]


def observe(s3: Any, sm: Any, resources: set[tuple[str, str]]) -> Seen:
    """Read everything back: each version's bytes, ETag, metadata and tags; each resource's description."""
    from botocore.exceptions import ClientError

    seen = Seen()
    for bucket in sorted({b["Name"] for b in s3.list_buckets()["Buckets"]} - {SETUP}):
        seen.buckets[bucket] = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        listing = s3.list_object_versions(Bucket=bucket)  # moto's listing is not paginated by default (1,000)
        assert not listing.get("IsTruncated"), "more versions than one listing holds: grow the listing here"
        for item in listing.get("DeleteMarkers", []):
            seen.versions.setdefault((bucket, item["Key"]), {})[item["VersionId"]] = Version(item["VersionId"], True)
        for item in listing.get("Versions", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            tags = s3.get_object_tagging(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])["TagSet"]
            seen.versions.setdefault((bucket, item["Key"]), {})[item["VersionId"]] = Version(
                item["VersionId"],
                False,
                got["Body"].read(),
                got["ETag"],
                got["Metadata"],
                got["ContentType"],
                {t["Key"]: t["Value"] for t in tags},
            )
            seen.reads += 2
        for bucket_key in [k for k in seen.versions if k[0] == bucket]:
            # Which version is latest, as a plain read sees it (moto's listing orders by time, to the millisecond).
            try:
                head = s3.head_object(Bucket=bucket, Key=bucket_key[1])
                seen.latest[bucket_key] = (head.get("VersionId", "null"), False)
            except ClientError as error:
                headers = error.response["ResponseMetadata"]["HTTPHeaders"]
                seen.latest[bucket_key] = (headers.get("x-amz-version-id", "null"), "x-amz-delete-marker" in headers)
        seen.listed[bucket] = {
            o["Key"]
            for o in pages(s3.list_objects_v2, "Contents", "ContinuationToken", "NextContinuationToken", Bucket=bucket)
        }
        seen.uploads[bucket] = {}
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            parts = s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
            seen.uploads[bucket][upload["UploadId"]] = (
                upload["Key"],
                {p["PartNumber"]: (p["ETag"], p["Size"]) for p in parts},
            )
    for kind, name in sorted(resources):
        call, parameter, _ = KINDS[kind]
        try:
            described = getattr(sm, call)(**{parameter: name})
            described.pop("ResponseMetadata", None)
            seen.described[(kind, name)] = described
            tags = pages(sm.list_tags, "Tags", "NextToken", "NextToken", ResourceArn=described[ARN_FIELD[kind]])
            seen.tags[(kind, name)] = {t["Key"]: t["Value"] for t in tags}
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
                raise
            seen.described[(kind, name)] = None
    for kind, call, key, field_name in (
        (
            "tuning-job",
            "list_hyper_parameter_tuning_jobs",
            "HyperParameterTuningJobSummaries",
            "HyperParameterTuningJobName",
        ),
        ("model", "list_models", "Models", "ModelName"),
        ("endpoint-config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName"),
        ("endpoint", "list_endpoints", "Endpoints", "EndpointName"),
    ):
        listed = pages(getattr(sm, call), key, "NextToken", "NextToken", MaxResults=100)
        seen.names[kind] = {item[field_name] for item in listed}
    return seen


def dig(described: dict[str, Any], path: str) -> Any:
    value: Any = described
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value.get(part)
    return value


def same_version(expected: Version, seen: Version) -> bool:
    if expected.marker or seen.marker:
        return expected.marker == seen.marker
    return (
        expected.body == seen.body
        and (expected.etag is None or expected.etag == seen.etag)
        and expected.metadata == seen.metadata
        and expected.content_type == seen.content_type
        and expected.tags == seen.tags
    )


def compare(model: Model, seen: Seen, subjects: set[str]) -> list[str]:  # noqa: C901 - one check after another
    """What `seen` lacks or holds beyond `model`; unknowns in `model` are filled in from `seen` when they match.
    The objects concerned, as requests name them, are added to `subjects`."""
    problems = []
    if set(seen.buckets) != set(model.buckets):
        problems.append(f"buckets {sorted(seen.buckets)} != {sorted(model.buckets)}")
    for name, bucket in model.buckets.items():
        if name not in seen.buckets:
            continue
        if seen.buckets[name] != bucket.versioning:
            problems.append(f"{name}: versioning {seen.buckets[name]} != {bucket.versioning}")
        keys = {k for b, k in seen.versions if b == name} | set(bucket.keys)
        for key in sorted(keys):
            expected, got = bucket.keys.get(key, []), dict(seen.versions.get((name, key), {}))
            unknown = [v for v in expected if v.version_id is None]
            for version in expected:
                if version.version_id is None:
                    continue
                found = got.pop(version.version_id, None)
                if found is None:
                    problems.append(f"{name}/{key!r}: version {version.version_id} lost")
                    subjects.add(f"{name}/{key!r}")
                elif not same_version(version, found):
                    problems.append(f"{name}/{key!r}: version {version.version_id} is {found}, not {version}")
                    subjects.add(f"{name}/{key!r}")
            matches = [vid for vid, found in got.items() if unknown and same_version(unknown[0], found)]
            if len(unknown) != len(got) or (unknown and not matches):
                subjects.add(f"{name}/{key!r}")
                problems.append(f"{name}/{key!r}: versions {sorted(got)} not told to the client")
                subjects.add(f"{name}/{key!r}")
            elif unknown:
                unknown[0].version_id, unknown[0].etag = matches[0], unknown[0].etag or got[matches[0]].etag
            if expected and seen.latest.get((name, key)) != (expected[-1].version_id, expected[-1].marker):
                problems.append(f"{name}/{key!r}: latest is {seen.latest.get((name, key))}, not {expected[-1]}")
                subjects.add(f"{name}/{key!r}")
        live = {k for k in bucket.keys if bucket.live(k)}
        if seen.listed.get(name) != live:
            problems.append(f"{name}: ListObjectsV2 differs: {sorted(seen.listed.get(name, set()) ^ live)!r}")
        uploads = dict(seen.uploads.get(name, {}))
        for upload in bucket.uploads:
            if upload.upload_id is None:  # started by the request in flight: its id is whichever has its key
                upload.upload_id = next((i for i, (key, _) in uploads.items() if key == upload.key), None)
            found = uploads.pop(upload.upload_id, None) if upload.upload_id else None
            parts = {n: (etag, len(data)) for n, (data, etag) in upload.parts.items()}
            if found != (upload.key, parts):
                problems.append(f"{name}: upload {upload.upload_id} of {upload.key!r} is {found}, not {parts}")
        if uploads:
            problems.append(f"{name}: uploads {sorted(uploads)} not told to the client")
    for (kind, name), resource in model.resources.items():
        problems += compare_resource(resource, seen.described.get((kind, name)), seen.tags.get((kind, name)))
    for kind, name in model.deleted:
        if seen.described.get((kind, name)) is not None:
            problems.append(f"deleted {kind} {name} came back")
    for kind, names in seen.names.items():
        expected_names = {r.name for r in model.live(kind)}
        if names != expected_names:
            problems.append(f"{kind}s listed: {sorted(names ^ expected_names)} differ")
    return problems


def compare_resource(resource: Resource, described: dict[str, Any] | None, tags: dict[str, str] | None) -> list[str]:
    what = f"{resource.kind} {resource.name}"
    if described is None:
        return [f"{what} lost"]
    problems = []
    arn = described[ARN_FIELD[resource.kind]]
    if resource.arn not in (None, arn):
        problems.append(f"{what}: ARN {arn} != {resource.arn}")
    problems += [
        f"{what}: {path} is {dig(described, path)!r}, not {value!r}"
        for path, value in resource.fields.items()
        if dig(described, path) != value
    ]
    if tags != resource.tags:
        problems.append(f"{what}: tags {tags} != {resource.tags}")
    status_field = KINDS[resource.kind][2]
    status = described.get(status_field) if status_field else None
    if status in ("Stopping", "Stopped") and not resource.stop_requested and resource.kind != "endpoint":
        problems.append(f"{what}: {status} though nobody stopped it")
    if resource.pinned is not None and described != resource.pinned:
        changed = sorted(k for k in described.keys() | resource.pinned.keys() if described.get(k) != resource.pinned[k])
        problems.append(f"{what}: its final description changed: {changed}")
    elif resource.status in TERMINAL_STATUSES and status != resource.status:
        problems.append(f"{what}: status {status}, was {resource.status}")
    if not problems:
        resource.arn = arn
    return problems


def settle(model: Model, seen: Seen) -> None:
    """Remember what was seen of each resource; a description that can no longer change is pinned whole."""
    for (kind, name), resource in model.resources.items():
        described = seen.described.get((kind, name))
        if described is None:
            continue
        status_field = KINDS[kind][2]
        resource.status = described.get(status_field) if status_field else None
        final = status_field is None or resource.status in TERMINAL_STATUSES
        # A tuning job's counters follow its training jobs, which may still be stopping: only its status is final.
        if final and kind != "tuning-job" and resource.pinned is None:
            resource.pinned = described


# --- the walk ----------------------------------------------------------------------------------------------
def clients(server: LocalSageMakerProcess) -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    # No retries: a request either got its answer or not, and the model must know which.
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=120)
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return (
        session.client("s3", endpoint_url=server.url, config=config),
        session.client("sagemaker", endpoint_url=server.url, config=config),
    )


@dataclass
class Walk:
    seed: int
    state_dir: Path
    model: Model = field(default_factory=Model)
    server: LocalSageMakerProcess | None = None
    history: list[str] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)
    restart_seconds: list[float] = field(default_factory=list)

    def start(self) -> None:
        started = time.monotonic()
        self.server = LocalSageMakerProcess(self.state_dir, env=SERVER_ENV).start()
        self.restart_seconds.append(time.monotonic() - started)
        self.s3, self.sm = clients(self.server)

    def setup(self) -> None:
        self.start()
        self.restart_seconds.clear()  # the first start restores nothing
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            script = f"import time\ntime.sleep({SLEEP_SECONDS})\n".encode()
            info = tarfile.TarInfo("sleep.py")
            info.size = len(script)
            tar.addfile(info, io.BytesIO(script))
        self.s3.create_bucket(Bucket=SETUP)
        self.s3.put_object(Bucket=SETUP, Key="code/sleep.tar.gz", Body=buffer.getvalue())
        for name, versioning in (("plain", None), ("versioned", "Enabled")):
            self.run(
                Op(
                    f"create bucket {name}",
                    lambda s3, sm, n=name: s3.create_bucket(Bucket=n),
                    lambda m, a, n=name: m.buckets.setdefault(n, Bucket()),
                )
            )
            if versioning:
                self.run(op_versioning_to(name, versioning))

    def run(self, op: Op) -> bool:
        """Make one request and record its answer; False if the server died with the answer unknown."""
        from botocore.exceptions import ClientError

        self.history.append(op.label)
        self.stats["operations"] += 1
        try:
            answer = op.send(self.s3, self.sm)
        except ClientError as error:
            if error.response["Error"]["Code"] in op.refused:
                self.history[-1] += f"   <- refused: {error.response['Error']['Code']}"
                return True
            raise AssertionError(f"seed {self.seed}: {op.label}: {error}\n{self.trail()}") from error
        except Exception:  # connection refused or reset, a response cut short: only a kill may cause them
            if not self.died():
                raise
            return False
        op.apply(self.model, answer)
        self.stats["acknowledged"] += 1
        return True

    def died(self) -> bool:
        assert self.server is not None and self.server.process is not None
        try:
            # The client may see the connection drop a moment before the killed process can be reaped.
            self.server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return True

    def crash(self, rng: random.Random) -> None:
        """SIGKILL the server at a random moment in a stream of requests, restart it, and check everything."""
        assert self.server is not None
        server = self.server
        killer = threading.Timer(rng.uniform(0, 0.25), server.kill)
        killer.start()
        in_flight = None
        while in_flight is None:
            op = draw_op(self.model, rng)
            if not self.run(op):
                in_flight = op
        killer.join()
        self.history[-1] += "   <- in flight at the kill -9; restarted"
        self.stats["restarts"] += 1
        # Two models: the request in flight happened, or it did not. Nothing else may differ.
        happened = copy.deepcopy(self.model)
        in_flight.apply(happened, None)
        self.start()
        self.check([happened, self.model], in_flight.label)

    def check(self, candidates: list[Model], in_flight: str | None = None) -> None:
        resources = {k for m in candidates for k in (*m.resources, *m.deleted)}
        seen = observe(self.s3, self.sm, resources)
        verdicts, subjects, matched = [], set(), []
        for candidate in candidates:
            trial = copy.deepcopy(candidate)
            problems = compare(trial, seen, subjects)
            verdicts.append(problems)
            if not problems:
                matched.append(trial)
        if matched:
            self.model = matched[0]
            settle(self.model, seen)
            if in_flight is not None:
                outcome = ["happened", "not done", "no visible difference"][
                    2 if len(matched) > 1 else [bool(v) for v in verdicts].index(False)
                ]
                self.stats[f"in flight: {outcome}"] += 1
            versions = sum(len(v) for b in self.model.buckets.values() for v in b.keys.values())
            self.stats["writes checked"] += versions + len(self.model.resources) + len(self.model.deleted)
            return
        detail = "\n".join(
            f"  if {label}:\n    " + "\n    ".join(p[:20])
            for label, p in zip(["it happened", "it did not"], verdicts, strict=False)
        )
        raise AssertionError(
            f"seed {self.seed}, after restart {self.stats['restarts']}: the state differs from what the client was "
            f"told (request in flight: {in_flight}):\n{detail}\n{self.trail(subjects)}"
        )

    def trail(self, subjects: set[str] = frozenset()) -> str:
        concerned = [f"{i}: {h}" for i, h in enumerate(self.history) if any(s in h for s in subjects)]
        last = [f"{i}: {h}" for i, h in enumerate(self.history)][-25:]
        return (
            "requests naming those objects:\n  " * bool(concerned)
            + "\n  ".join(concerned)
            + ("\nlast requests:\n  " + "\n  ".join(last))
        )


def state_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.mark.slow
def test_acknowledged_writes_survive_random_kills(tmp_path):
    """A random walk of writes with kill -9 at random moments: after each restart the state is what was told."""
    seed = int(os.environ.get("DURABILITY_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    operations, crash_every = scaled(250, 5000), 12  # a kill about every 25 operations (a burst runs until it lands)
    walk = Walk(seed, tmp_path / "state")
    try:
        walk.setup()
        while walk.stats["operations"] < operations:
            if rng.random() < 1 / crash_every:
                walk.crash(rng)
            else:
                walk.run(draw_op(walk.model, rng))
        # A clean stop last: its reconcile must find nothing to repair, and the state must still be the model's.
        assert walk.server is not None
        walk.server.stop()
        walk.start()
        walk.check([walk.model])
        log = walk.server.log_path.read_text()
    finally:
        if walk.server is not None:
            walk.server.stop()
    assert PERSISTENCE_ERROR not in log, "the safety net had to act: a write was not persisted by its request"
    assert walk.stats["restarts"] >= scaled(5, 100), f"seed {seed}: too few kills to mean anything"
    size = state_size(tmp_path / "state")
    versions = sum(len(v) for b in walk.model.buckets.values() for v in b.keys.values())
    outcomes = ("happened", "not done", "no visible difference")
    for what, value in (
        (
            "random write requests (S3 and SageMaker), acknowledged",
            f"{walk.stats['operations']}, {walk.stats['acknowledged']}",
        ),
        ("kill -9 at a random moment, each followed by a restart and a check of everything", walk.stats["restarts"]),
        (
            f"request in flight at the kill: {' / '.join(outcomes)}",
            " / ".join(str(walk.stats[f"in flight: {o}"]) for o in outcomes),
        ),
        ("versions, resources and deletions checked, summed over the checks", walk.stats["writes checked"]),
        ("acknowledged writes lost, deletions undone", 0),
        (
            "restart until healthy, median / max (s)",
            f"{statistics.median(walk.restart_seconds):.2f} / {max(walk.restart_seconds):.2f}",
        ),
        (
            "state at the end: object versions, resources, bytes on disk",
            f"{versions}, {len(walk.model.resources)}, {size / 1e6:.1f} MB",
        ),
    ):
        record("durability", what, value)


def test_a_copy_gets_only_its_source_tags_and_a_suspended_bucket_deletes_keys_with_delete_markers(tmp_path):
    """Two defects of moto's S3 that the model test found, corrected by the gateway (include/local_sagemaker)."""
    with LocalSageMakerProcess(tmp_path / "state") as server:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="plain")
        s3.put_object(Bucket="plain", Key="source", Body=b"s", Tagging="from=source")
        s3.put_object(Bucket="plain", Key="target", Body=b"t", Tagging="stale=1")
        s3.put_object(Bucket="plain", Key="deleted", Body=b"d", Tagging="stale=2")
        s3.delete_object(Bucket="plain", Key="deleted")
        for target in ("target", "deleted"):  # the tags of the object replaced, or of one deleted, stay gone
            s3.copy_object(Bucket="plain", Key=target, CopySource={"Bucket": "plain", "Key": "source"})
            assert s3.get_object_tagging(Bucket="plain", Key=target)["TagSet"] == [{"Key": "from", "Value": "source"}]
        s3.copy_object(
            Bucket="plain", Key="source", CopySource={"Bucket": "plain", "Key": "source"}, MetadataDirective="REPLACE"
        )
        assert s3.get_object_tagging(Bucket="plain", Key="source")["TagSet"] == [{"Key": "from", "Value": "source"}]

        s3.create_bucket(Bucket="history")
        s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="history", Key="k", Body=b"v1")
        s3.delete_object(Bucket="history", Key="k")
        s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Suspended"})
        s3.delete_object(Bucket="history", Key="k")  # was a 500
        assert "Versions" not in s3.list_object_versions(Bucket="history")


# --- the safety net, in-process so that persistence can be made to fail ---------------------------------------
@dataclass
class InProcess:
    """A local SageMaker in this process, so that a test can break its persistence."""

    server: Any
    thread: threading.Thread
    stopped: bool = False

    @property
    def state_dir(self) -> Path:
        return self.server.runtime.state_dir

    def stop(self) -> None:
        """A clean stop, as on SIGTERM: the runtime's shutdown, with its reconcile."""
        if not self.stopped:
            self.stopped = True
            self.server.shutdown()
            self.thread.join()


@pytest.fixture
def in_process(tmp_path) -> Iterator[InProcess]:
    from moto.s3.models import s3_backends

    from include.local_sagemaker import DEFAULT_ACCOUNT_ID
    from include.local_sagemaker.gateway import LocalSageMaker

    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].reset()  # moto's state is this process's: start from none
    server = LocalSageMaker(tmp_path / "state")
    running = InProcess(server, threading.Thread(target=server.server.serve_forever, daemon=True))
    running.thread.start()
    yield running
    running.stop()
    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].reset()


def in_process_s3(running: InProcess) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    config = Config(retries={"total_max_attempts": 1})
    return session.client("s3", endpoint_url=running.server.endpoint_url, config=config)


def restarted(state_dir: Path, tmp_path: Path, bucket: str, key: str) -> bytes | None:
    """The object's bytes after a restart from a copy of `state_dir` taken now: what a kill -9 here would leave."""
    from botocore.exceptions import ClientError

    copy_dir = tmp_path / f"after-kill-{time.monotonic_ns()}"
    shutil.copytree(state_dir, copy_dir)
    with LocalSageMakerProcess(copy_dir) as server:
        try:
            return server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            return None


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "s3_persistence" in r.name]


def test_a_failed_store_is_logged_with_bucket_and_key_and_repaired_before_the_answer(
    in_process, tmp_path, caplog, monkeypatch
):
    from include.local_sagemaker.s3_persistence import S3Persistence

    real, failures = S3Persistence._write_file, []

    def fails_once(self: S3Persistence, value: bytes) -> str:
        if not failures:
            failures.append(True)
            raise OSError(28, "No space left on device (injected)")
        return real(self, value)

    s3 = in_process_s3(in_process)
    s3.create_bucket(Bucket="net")
    monkeypatch.setattr(S3Persistence, "_write_file", fails_once)
    s3.put_object(Bucket="net", Key="k é%20", Body=b"kept")  # answered 200: the reconcile stored it
    assert failures
    assert any("bucket 'net' key 'k é%20'" in line and "could not persist" in line for line in error_lines(caplog))
    assert restarted(in_process.state_dir, tmp_path, "net", "k é%20") == b"kept"


def test_a_request_understood_differently_from_moto_is_logged_and_the_bucket_reconciled(
    in_process, tmp_path, caplog, monkeypatch
):
    from include.local_sagemaker import gateway

    real = gateway.s3_write

    def as_before_the_fix(environ: dict[str, Any]) -> gateway.S3Write:
        write = real(environ)  # the key decoded twice, as the gateway once did
        return gateway.S3Write(write.bucket, write.key and urllib.parse.unquote(write.key), write.expect)

    s3 = in_process_s3(in_process)
    s3.create_bucket(Bucket="net")
    s3.put_object(Bucket="net", Key="deleted%20", Body=b"gone")
    monkeypatch.setattr(gateway, "s3_write", as_before_the_fix)
    s3.put_object(Bucket="net", Key="a%20b", Body=b"kept")
    lines = error_lines(caplog)
    assert any("bucket 'net' key 'a b'" in line and "moto holds no object" in line for line in lines), lines
    assert any("bucket 'net' key 'a%20b' differed from moto's state" in line for line in lines), lines
    assert restarted(in_process.state_dir, tmp_path, "net", "a%20b") == b"kept"
    # A delete of the wrong key: moto holds nothing at either, but its keys are no longer the stored ones.
    caplog.clear()
    s3.delete_object(Bucket="net", Key="deleted%20")
    lines = error_lines(caplog)
    assert any(
        "bucket 'net' key 'deleted '" in line and "moto's keys are not the ones stored" in line for line in lines
    )
    assert any("bucket 'net' key 'deleted%20' differed from moto's state" in line for line in lines), lines
    assert restarted(in_process.state_dir, tmp_path, "net", "deleted%20") is None


def test_a_write_that_cannot_be_persisted_is_answered_500_never_200(in_process, caplog, monkeypatch):
    from botocore.exceptions import ClientError

    from include.local_sagemaker.s3_persistence import S3Persistence

    s3 = in_process_s3(in_process)
    s3.create_bucket(Bucket="net")

    def disk_full(self: S3Persistence, value: bytes) -> str:
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr(S3Persistence, "_write_file", disk_full)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="net", Key="lost", Body=b"x")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert refused.value.response["Error"]["Code"] == "InternalError"
    assert any("bucket 'net' key 'lost'" in line for line in error_lines(caplog))


def test_a_silent_persistence_bug_is_caught_by_the_reconcile_of_a_clean_stop(in_process, tmp_path, caplog, monkeypatch):
    from include.local_sagemaker.s3_persistence import S3Persistence

    s3 = in_process_s3(in_process)
    s3.create_bucket(Bucket="net")
    monkeypatch.setattr(S3Persistence, "after_write", lambda self, bucket, key=None, expect=None: True)
    s3.put_object(Bucket="net", Key="unsaved é", Body=b"kept")
    state_dir = in_process.state_dir
    assert restarted(state_dir, tmp_path, "net", "unsaved é") is None  # a kill -9 now would lose it
    in_process.stop()
    assert any("bucket 'net' key 'unsaved é' differed from moto's state" in line for line in error_lines(caplog))
    with LocalSageMakerProcess(state_dir) as server:
        assert server.client("s3").get_object(Bucket="net", Key="unsaved é")["Body"].read() == b"kept"


@pytest.mark.parametrize(
    ("host", "raw_uri", "expected"),
    [
        ("127.0.0.1:4566", "/bkt/a%2520b", ("bkt", "a%20b")),
        ("127.0.0.1:4566", "/bkt/uni-%C3%A9?tagging", ("bkt", "uni-é")),
        ("127.0.0.1:4566", "/bkt//lead/..%252F/x", ("bkt", "/lead/..%2F/x")),
        ("localhost:4566", "/bkt/q%3Fx%3D1", ("bkt", "q?x=1")),
        ("bkt.s3.amazonaws.com", "/hash%23frag%20%F0%9F%98%80", ("bkt", "hash#frag 😀")),
        ("bkt.s3.us-east-1.amazonaws.com", "/plus+sign", ("bkt", "plus+sign")),
    ],
)
def test_the_gateway_names_the_key_moto_writes(host: str, raw_uri: str, expected: tuple[str, str]):
    """Path-style and virtual-hosted requests, as werkzeug hands them over (PATH_INFO decoded, as latin-1)."""
    from include.local_sagemaker.gateway import s3_write

    path, _, query = raw_uri.partition("?")
    environ = {
        "REQUEST_METHOD": "PUT",
        "HTTP_HOST": host,
        "PATH_INFO": urllib.parse.unquote(path).encode().decode("latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": raw_uri,
        "REQUEST_URI": raw_uri,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4566",
        "wsgi.url_scheme": "http",
    }
    write = s3_write(environ)
    assert (write.bucket, write.key) == expected
    # PutObject writes a new version; PutObjectTagging needs the object to be there.
    assert write.expect == ("present" if query == "tagging" else "new")


def test_objects_no_longer_stored_are_let_go_and_stored_ones_are_read_from_their_files(in_process):
    """A service that runs for months must not keep what it no longer holds: moto tracks every model object it
    makes (for its dashboard, behind the /moto-api the gateway refuses), so overwritten and deleted objects
    and their parts stayed referenced for good. And a stored object's bytes are not in memory at all."""
    import gc
    import weakref

    from moto.s3.models import s3_backends

    from include.local_sagemaker import DEFAULT_ACCOUNT_ID
    from include.local_sagemaker.s3_persistence import StoredBytes

    s3 = in_process_s3(in_process)
    s3.create_bucket(Bucket="net")
    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets["net"]
    s3.put_object(Bucket="net", Key="overwritten", Body=b"first")
    s3.put_object(Bucket="net", Key="deleted", Body=b"gone")
    upload = s3.create_multipart_upload(Bucket="net", Key="parts")["UploadId"]
    part = s3.upload_part(Bucket="net", Key="parts", UploadId=upload, PartNumber=1, Body=b"p" * 1024)
    s3.complete_multipart_upload(
        Bucket="net", Key="parts", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    )
    old = [bucket.keys["overwritten"], bucket.keys["deleted"], bucket.keys["parts"], bucket.keys["parts"].multipart]
    references = [weakref.ref(o) for o in (*old, *old[3].parts.values())]
    assert all(isinstance(k._value_buffer, StoredBytes) for k in (old[0], old[2], *old[3].parts.values()))
    del old
    s3.put_object(Bucket="net", Key="overwritten", Body=b"second")
    s3.delete_objects(Bucket="net", Delete={"Objects": [{"Key": "deleted"}, {"Key": "parts"}]})
    gc.collect()
    assert [r() for r in references] == [None] * len(references)
    assert s3.get_object(Bucket="net", Key="overwritten")["Body"].read() == b"second"
