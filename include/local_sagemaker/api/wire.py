"""JSON 1.1 (SageMaker) and REST (sagemaker-runtime) on the wire: decode, dispatch, encode, errors."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

from ..exceptions import SageMakerError, UnknownOperation, ValidationException
from ..protocol import service_model, validate_request
from ..runtime import Runtime

Response = tuple[int, dict[str, str], bytes]
log = logging.getLogger(__name__)

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")


def region_of(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()  # JSON 1.1 timestamps are epoch seconds
    raise TypeError(f"cannot encode {type(value).__name__}")


def _json_error(error: SageMakerError, code: str | None = None) -> Response:
    body = json.dumps({"__type": code or error.code, "message": error.message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code or error.code}
    return error.status, headers, body


def is_sagemaker(environ: dict[str, Any]) -> bool:
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith("SageMaker.")


def invocation_endpoint(environ: dict[str, Any]) -> str | None:
    match = _INVOCATIONS.match(environ.get("PATH_INFO", ""))
    if match is None or environ.get("REQUEST_METHOD") != "POST":
        return None
    # moto serves other services on this port too; only SageMaker-signed requests are ours.
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if scope and "/sagemaker/aws4_request" not in auth:
        return None
    from urllib.parse import unquote

    return unquote(match.group(1))


def handle_sagemaker(runtime: Runtime, environ: dict[str, Any], body: bytes) -> Response:
    operation = environ["HTTP_X_AMZ_TARGET"].split(".", 1)[1]
    try:
        if operation not in service_model().operation_names:
            raise UnknownOperation(f"Operation {operation} is not part of the SageMaker API.")
        backend = runtime.backend(region_of(environ))
        method = getattr(backend, _snake(operation), None)
        if method is None:
            raise UnknownOperation(f"The local SageMaker does not implement {operation} yet.")
        try:
            params = json.loads(body or b"{}")
        except ValueError as exc:
            raise ValidationException(f"Request body is not valid JSON: {exc}") from exc
        validate_request(operation, params)
        result = method(params)
    except SageMakerError as error:
        return _json_error(error)
    except Exception as exc:  # a bug of ours: answer as AWS does (InternalFailure, JSON), and log it
        log.exception("%s failed", operation)
        return _json_error(SageMakerError(f"{type(exc).__name__}: {exc}"))
    return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(result, default=_encode).encode()


def handle_invocation(runtime: Runtime, environ: dict[str, Any], name: str, body: bytes) -> Response:
    try:
        if len(body) > 6 * 1024 * 1024:
            raise ValidationException("Request payload is larger than the 6 MB InvokeEndpoint limit.")
        backend = runtime.backend(region_of(environ))
        out, content_type, variant = runtime.endpoints.invoke(
            backend,
            name,
            body,
            environ.get("CONTENT_TYPE") or "text/csv",
            environ.get("HTTP_ACCEPT") or "text/csv",
            environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT"),
        )
    except SageMakerError as error:
        # sagemaker-runtime names its validation error shape ValidationError.
        code = "ValidationError" if isinstance(error, ValidationException) else error.code
        status, headers, payload = _json_error(error, code)
        headers["Content-Type"] = "application/json"
        return status, headers, payload
    return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}, out
