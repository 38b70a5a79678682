"""Durability: a write the local SageMaker could not persist is never silent.

In-process, so that persistence can be made to fail: a store that raises, a request understood differently
from moto, a bug that persists nothing. Each shows as an ERROR naming bucket and key, and the object survives.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.local_sagemaker import REGION, LocalSageMakerProcess


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
