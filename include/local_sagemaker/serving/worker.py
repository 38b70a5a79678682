"""An inference container, as a process: GET /ping and POST /invocations on a loopback port.

Script mode loads the model's entry point (SAGEMAKER_PROGRAM) and uses its `model_fn`, `input_fn`,
`predict_fn` and `output_fn`, the same functions that offline evaluation calls; anything the script leaves
out falls back to the SageMaker XGBoost container's defaults below. Standalone (stdlib, numpy, xgboost):
it imports nothing from the project, like a container. It exits when the local SageMaker that started it
goes away, so a killed server leaves no endpoint processes behind.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any


# --- the SageMaker XGBoost container's default handlers -------------------------------------------
def default_model_fn(model_dir: str) -> Any:
    import xgboost as xgb

    for name in ("xgboost-model", "xgboost-model.json", "xgboost-model.ubj"):
        path = Path(model_dir) / name
        if path.is_file():
            booster = xgb.Booster()
            booster.load_model(bytearray(path.read_bytes()))  # from bytes: JSON or UBJSON, no guessing
            return booster
    raise FileNotFoundError(f"no xgboost-model file in {model_dir}")


def default_input_fn(body: bytes | str, content_type: str) -> Any:
    import numpy as np
    import xgboost as xgb

    text = body.decode("utf-8") if isinstance(body, bytes) else body
    kind = (content_type or "text/csv").split(";")[0].strip().lower()
    if kind == "text/csv":
        rows = [[float(x) if x.strip() else np.nan for x in line.split(",")] for line in text.splitlines() if line]
        return xgb.DMatrix(np.array(rows, dtype=np.float32), missing=np.nan)
    if kind == "application/json":
        payload = json.loads(text)
        rows = payload.get("instances", payload) if isinstance(payload, dict) else payload
        rows = [rows] if rows and not isinstance(rows[0], list) else rows
        return xgb.DMatrix(np.array(rows, dtype=np.float32), missing=np.nan)
    if kind in ("text/libsvm", "text/x-libsvm"):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".libsvm", delete=False) as handle:
            handle.write(text)
        try:
            return xgb.DMatrix(f"{handle.name}?format=libsvm")
        finally:
            os.unlink(handle.name)
    raise ValueError(f"Content type {content_type!r} is not supported: use text/csv, application/json or text/libsvm")


def default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def default_output_fn(prediction: Any, accept: str) -> str:
    values = [float(v) if not hasattr(v, "__len__") else [float(x) for x in v] for v in prediction]
    if (accept or "text/csv").startswith("application/json"):
        return json.dumps({"predictions": [{"score": v} for v in values]})
    return "\n".join(",".join(map(str, v)) if isinstance(v, list) else str(v) for v in values)


class Handlers:
    def __init__(self, model_dir: str, module: ModuleType | None) -> None:
        def pick(name: str, default: Any) -> Any:
            return getattr(module, name, None) or default

        self.model = pick("model_fn", default_model_fn)(model_dir)
        self.input_fn = pick("input_fn", default_input_fn)
        self.predict_fn = pick("predict_fn", default_predict_fn)
        self.output_fn = pick("output_fn", default_output_fn)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        data = self.input_fn(body, content_type)
        prediction = self.predict_fn(data, self.model)
        out = self.output_fn(prediction, accept)
        if isinstance(out, tuple):  # some toolkits return (body, content_type)
            out, accept = out
        return (out.encode() if isinstance(out, str) else bytes(out)), accept


def load_entry_point(code_dir: str, program: str) -> ModuleType:
    path = Path(code_dir) / program
    if not path.is_file():
        raise FileNotFoundError(f"SAGEMAKER_PROGRAM {program!r} not found in {code_dir}")
    sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_handler(handlers: Handlers) -> type[BaseHTTPRequestHandler]:
    class InvocationHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            sys.stdout.write("%s %s\n" % (self.address_string(), format % args))  # noqa: UP031
            sys.stdout.flush()

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path == "/ping":
                self._reply(200, b"")
            else:
                self._reply(404, b"not found")

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/invocations":
                return self._reply(404, b"not found")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type") or "text/csv"
            accept = self.headers.get("Accept") or "text/csv"
            if accept == "*/*":
                accept = "text/csv"
            try:
                out, out_type = handlers.invoke(body, content_type, accept)
            except ValueError as exc:
                return self._reply(400, str(exc).encode())
            except Exception as exc:
                traceback.print_exc()
                return self._reply(500, f"{type(exc).__name__}: {exc}".encode())
            self._reply(200, out, out_type)

    return InvocationHandler


def _exit_with_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--code-dir")
    parser.add_argument("--program")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_with_parent, args=(args.parent_pid,), daemon=True).start()
    module = load_entry_point(args.code_dir, args.program) if args.program else None
    handlers = Handlers(args.model_dir, module)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(handlers))
    port_file = Path(args.port_file)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    os.replace(tmp, port_file)
    print(f"serving on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
