"""One loopback port for every AWS service the project uses.

SageMaker (JSON 1.1, `X-Amz-Target: SageMaker.*`) and sagemaker-runtime (`POST /endpoints/<name>/
invocations`) are answered by this package; everything else (S3, CloudWatch Logs, STS, IAM) goes to moto's
server application in-process. Writes to S3 are mirrored to disk before the client sees its success.
"""

from __future__ import annotations

import io
import json
import logging
import re
from html import escape
from pathlib import Path
from typing import Any

from .api.iam import is_policy_simulation, simulate_principal_policy
from .api.wire import handle_invocation, handle_sagemaker, invocation_endpoint, is_sagemaker
from .runner.training import SpotSettings
from .runtime import Runtime

log = logging.getLogger(__name__)

HEALTH_PATH = "/_local_sagemaker/health"
_READ_ONLY = {"GET", "HEAD", "OPTIONS"}


class Gateway:
    """The WSGI application."""

    def __init__(self, runtime: Runtime) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.runtime = runtime
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            return self._reply(start_response, 200, {"Content-Type": "application/json"}, b'{"status": "ok"}')
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
        try:
            response = self.moto(environ, start_response)
        except NotImplementedError as exc:
            # moto lacks some calls (IAM SimulatePrincipalPolicy, ...). An AWS-shaped error lets clients that
            # treat such calls as best-effort (the SageMaker SDK's role checks) carry on; an HTML 500 does not.
            return self._not_implemented(environ, start_response, str(exc))
        if environ.get("REQUEST_METHOD") not in _READ_ONLY and _is_s3(environ):
            bucket, key = _bucket_and_key(environ)
            self.runtime.s3.sync(bucket, key, in_place="tagging" in environ.get("QUERY_STRING", ""))
        return response

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
    def _reply(start_response: Any, status: int, headers: dict[str, str], body: bytes) -> list[bytes]:
        from http import HTTPStatus

        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        start_response(f"{status} {reason}", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]


def _is_s3(environ: dict[str, Any]) -> bool:
    signed = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
    return "/s3/aws4_request" in signed or "%2Fs3%2Faws4_request" in signed


def _bucket_and_key(environ: dict[str, Any]) -> tuple[str | None, str | None]:
    """Path-style (/bucket/key) or virtual-hosted (bucket.host/key); (None, None) when unsure."""
    from urllib.parse import unquote

    host = environ.get("HTTP_HOST", "").split(":")[0]
    path = unquote(environ.get("PATH_INFO", "")).lstrip("/")
    labels = host.split(".")
    if len(labels) > 1 and not host.replace(".", "").isdigit() and labels[0] not in ("s3", "localhost"):
        return labels[0], path or None
    bucket, _, key = path.partition("/")
    return (bucket or None), (key or None)


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
