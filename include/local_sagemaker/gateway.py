"""One loopback port for every AWS service the project uses.

SageMaker (JSON 1.1, `X-Amz-Target: SageMaker.*`) and sagemaker-runtime (`POST /endpoints/<name>/
invocations`) are answered by this package; everything else (S3, CloudWatch Logs, STS, IAM) goes to moto's
server application in-process. Writes to S3 are mirrored to disk before the client sees its success.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from .api.iam import is_policy_simulation, simulate_principal_policy
from .api.wire import handle_invocation, handle_sagemaker, invocation_endpoint, is_sagemaker
from .runner.training import SpotSettings
from .runtime import Runtime

log = logging.getLogger(__name__)

HEALTH_PATH = "/_local_sagemaker/health"
MOTO_INTERNAL = "/moto-api"
_READ_ONLY = {"GET", "HEAD", "OPTIONS"}


class Gateway:
    """The WSGI application."""

    def __init__(self, runtime: Runtime) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.runtime = runtime
        self.moto = DomainDispatcherApplication(create_backend_app)
        _correct_moto_s3()
        _stop_moto_instance_tracking()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self._reply(start_response, 200, {"Content-Type": "application/json"}, b'{"status": "ok"}')
        if path.startswith(MOTO_INTERNAL):
            # moto's own API (reset, seed, state dump, recorder) is no AWS API: a reset would empty the services in
            # memory while the state directory keeps everything, and a dump would show every object to anyone.
            body = json.dumps({"__type": "NotFound", "message": f"{path} is not an AWS API"}).encode()
            return self._reply(start_response, 404, {"Content-Type": "application/json"}, body)
        if is_sagemaker(environ):
            status, headers, body = handle_sagemaker(self.runtime, environ, _read_body(environ))
            return self._reply(start_response, status, headers, body)
        endpoint = invocation_endpoint(environ)
        if endpoint is not None:
            status, headers, body = handle_invocation(self.runtime, environ, endpoint, _read_body(environ))
            return self._reply(start_response, status, headers, body)
        if environ.get("REQUEST_METHOD") == "POST" and "/iam/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            body = _read_body(environ)
            if is_policy_simulation(environ, body):
                status, answer = simulate_principal_policy(body)
                return self._reply(start_response, status, {"Content-Type": "text/xml"}, answer)
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        if environ.get("REQUEST_METHOD") in _READ_ONLY or not self._is_s3(environ):
            return self._moto(environ, start_response)
        return self._s3_write(environ, start_response)

    def _moto(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return self.moto(environ, start_response)
        except NotImplementedError as exc:
            # moto lacks some calls (IAM SimulatePrincipalPolicy, ...). An AWS-shaped error lets clients that
            # treat such calls as best-effort (the SageMaker SDK's role checks) carry on; an HTML 500 does not.
            return self._not_implemented(environ, start_response, str(exc))

    def _is_s3(self, environ: dict[str, Any]) -> bool:
        """Whether moto answers this request with S3: its own routing decides, so unsigned writes count too."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/moto-api", "/latest/")) or path == "/favicon.ico":
            return False
        host = self.moto.infer_service_region_host(environ, path) or _MOTO_DEFAULT_HOST
        return self.moto.get_backend_for_host(host) == "s3"

    def _s3_write(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Let moto answer, then persist what a successful write changed before the client sees the answer.

        werkzeug sends nothing until the first chunk of the body is written, so the status moto chose can still
        be replaced: a write that could not be persisted, even by a reconcile of the bucket, is answered 500.
        """
        write = s3_write(environ)
        statuses: list[str] = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        with self.runtime.s3.writing(write.bucket):
            response = self._moto(environ, recording)
            if not statuses or not statuses[-1].startswith("2"):
                return response
            if self.runtime.s3.after_write(write.bucket, write.key, write.expect):
                return response
        if hasattr(response, "close"):
            response.close()
        body = (
            b"<Error><Code>InternalError</Code><Message>The request succeeded in memory but could not be persisted "
            b"to the state directory; it may not survive a restart. Retry it.</Message></Error>"
        )
        try:
            raise RuntimeError("S3 write not persisted")
        except RuntimeError:
            return self._reply(start_response, 500, {"Content-Type": "application/xml"}, body, sys.exc_info())

    def _not_implemented(self, environ: dict[str, Any], start_response: Any, message: str) -> list[bytes]:
        log.warning("not implemented by moto: %s", message)
        if "json" in environ.get("CONTENT_TYPE", ""):
            body = json.dumps({"__type": "NotImplemented", "message": message}).encode()
            return self._reply(start_response, 501, {"Content-Type": "application/x-amz-json-1.1"}, body)
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>NotImplemented</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
        ).encode()
        return self._reply(start_response, 501, {"Content-Type": "text/xml"}, body)

    @staticmethod
    def _reply(
        start_response: Any, status: int, headers: dict[str, str], body: bytes, exc_info: Any = None
    ) -> list[bytes]:
        from http import HTTPStatus

        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))], exc_info)
        return [body]


_MOTO_DEFAULT_HOST = "s3.us-east-1.amazonaws.com"  # where moto sends a request it cannot place otherwise

# Query parameters that leave a request about the one key it names (or that key's multipart upload); a key
# write with any other (RenameObject, RestoreObject, ones moto may learn later) is persisted bucket-wide.
_KEY_SUBRESOURCES = {"tagging", "acl", "retention", "legal-hold", "uploads", "uploadId", "partNumber", "versionId"}


@dataclass(frozen=True)
class S3Write:
    """What a successful S3 write request changed, as moto understood it."""

    bucket: str | None  # None: not known, persist every bucket
    key: str | None  # None: any key of the bucket may have changed
    expect: str | None = None  # what moto must hold at `key` afterwards: "new", "present" or "absent"


def s3_write(environ: dict[str, Any]) -> S3Write:
    """The bucket and key a write names, derived exactly as moto derives them, so that the two cannot differ.

    moto reads the key from the raw request URI (werkzeug keeps it in RAW_URI), percent-decoded once as UTF-8
    (S3Response.get_safe_path), path-style or virtual-hosted as S3Response.subdomain_based_buckets decides.
    PATH_INFO will not do: werkzeug has already decoded it, and PEP 3333 makes it latin-1, so decoding it
    again turns `a%20b` into `a b` and `é` into mojibake.
    """
    from urllib.parse import parse_qs, unquote

    from moto.core.request import Request
    from moto.s3.responses import S3Response
    from moto.s3.responses import parse_key_name as hosted_key
    from moto.s3.utils import bucket_name_from_url as hosted_bucket
    from moto.s3bucket_path.utils import bucket_name_from_url as path_bucket
    from moto.s3bucket_path.utils import parse_key_name as path_key

    try:
        request = Request(environ, populate_request=False, shallow=True)  # the body is moto's to read
        path = unquote(request.raw_path)
        if S3Response.subdomain_based_buckets(request):
            bucket, key = hosted_bucket(request.raw_url), hosted_key(path)
        else:
            bucket, key = path_bucket(request.raw_url), path_key(path)
    except Exception:  # a request moto could parse but we cannot: persist everything rather than guess
        log.exception("cannot tell which S3 object a %s request names", environ.get("REQUEST_METHOD"))
        return S3Write(None, None)
    if not bucket:
        return S3Write(None, None)
    if not key:
        return S3Write(bucket, None)
    params = set(parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)) - {"x-id"}
    if not params <= _KEY_SUBRESOURCES:
        return S3Write(bucket, None)
    method, versioned = environ.get("REQUEST_METHOD"), "versionId" in params
    params.discard("versionId")
    if versioned or ("uploadId" in params and method != "POST"):
        expect = None  # an older version, a part or an abort: nothing to say about the latest object
    elif method == "PUT" and not params:
        expect = "new"  # PutObject, CopyObject: a new version, even of the same bytes
    elif (method == "PUT" and params == {"tagging"}) or (method == "POST" and params == {"uploadId"}):
        expect = "present"  # PutObjectTagging; CompleteMultipartUpload (a retry of one answers the same object)
    elif method == "DELETE" and params <= {"tagging"}:
        expect = "absent" if not params else "present"
    else:
        expect = None
    return S3Write(bucket, key, expect)


def _stop_moto_instance_tracking() -> None:
    """moto keeps every model object it ever made (each class's `instances_tracked`) for its dashboard and its reset,
    both behind /moto-api, which this gateway refuses. For a service that runs for months that is a leak: every
    overwritten or deleted S3 object, every multipart part, every metric datum and log event stays referenced."""
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data

    if getattr(BaseModel.__new__, "untracked", False):
        return

    def untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)

    untracked_new.untracked = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(untracked_new)  # type: ignore[assignment]
    reset_model_data()  # and let go of what was tracked before


def _correct_moto_s3() -> None:
    """Two defects of moto's S3 that the model test (tests/reliability/test_durability.py) ran into.

    - CopyObject added the source's tags to whatever moto held for the target's ARN. Tags are held by ARN,
      which ends with the VersionId, and in a bucket without versioning every version of a key is `null`: a copy
      over an object, or over one deleted long before, got that object's tags back. S3 gives a copy the
      source's tags and no others (TaggingDirective REPLACE is applied after this, as before).
    - Deleting a key in a bucket whose versioning is Suspended, when the key has delete markers from when it was
      Enabled, raised AttributeError (a delete marker has no `dispose`) after closing the buffers of the
      versions before it: a 500, and those versions unreadable until a restart.
    """
    from moto.s3.models import FakeDeleteMarker, S3Backend

    if not hasattr(FakeDeleteMarker, "dispose"):
        FakeDeleteMarker.dispose = lambda self, garbage=False: None  # type: ignore[attr-defined]
    copy_object = S3Backend.copy_object
    if getattr(copy_object, "copies_only_the_source_tags", False):
        return

    @functools.wraps(copy_object)
    def copy_with_source_tags(
        self: Any, src_key: Any, dest_bucket_name: str, dest_key_name: str, *args: Any, **kwargs: Any
    ) -> None:
        tags = self.tagger.list_tags_for_resource(src_key.arn)["Tags"]  # before the copy: it may replace the source
        copy_object(self, src_key, dest_bucket_name, dest_key_name, *args, **kwargs)
        copied = self.get_object(dest_bucket_name, dest_key_name)
        self.tagger.delete_all_tags_for_resource(copied.arn)
        self.tagger.tag_resource(copied.arn, tags)

    copy_with_source_tags.copies_only_the_source_tags = True  # type: ignore[attr-defined]
    S3Backend.copy_object = copy_with_source_tags


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


# Query parameters of presigned URLs that grant access: the request log shows their names, never their values.
SECRET_QUERY = re.compile(
    r"(?i)\b(x-amz-security-token|x-amz-signature|x-amz-credential|signature|awsaccesskeyid)=[^&\s]*"
)


def redact_query(line: str) -> str:
    return SECRET_QUERY.sub(r"\1=REDACTED", line)


def _request_handler() -> type:
    """moto's request handler, logging each request line with the presigned URL's secrets redacted."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class RedactingRequestHandler(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 (werkzeug's signature)
            super().log(type, message, *(redact_query(a) if isinstance(a, str) else a for a in args))

    return RedactingRequestHandler


class LocalSageMaker:
    """Binds the port, builds the runtime, restores state. `serve_forever()` blocks."""

    def __init__(self, state_dir: Path, port: int = 0, spot: SpotSettings | None = None, host: str = "127.0.0.1"):
        from werkzeug.serving import make_server

        # Jobs run in their own working directories, so every path handed to them must be absolute.
        state_dir = state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        self._app: Gateway | None = None
        self.server = make_server(host, port, self._dispatch, threaded=True, request_handler=_request_handler())
        self.port = self.server.server_address[1]
        # What jobs and serving workers in this process tree call: loopback even when bound to all interfaces.
        self.endpoint_url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104
        self.runtime = Runtime(state_dir, self.endpoint_url, spot or SpotSettings())
        self._app = Gateway(self.runtime)
        self.recovered = self.runtime.load()
        log.info("restored state: %s", json.dumps(self.recovered))

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self._app is not None
        return self._app(environ, start_response)

    def serve_forever(self) -> None:
        import threading

        # Resuming jobs and redeploying endpoints call back into this gateway, so they start once it serves.
        threading.Thread(target=self.runtime.resume, name="resume", daemon=True).start()
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.runtime.shutdown()
