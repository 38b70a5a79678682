"""python -m include.local_sagemaker {serve,start,stop} --state-dir DIR [--port PORT]

serve  runs in the foreground until SIGINT/SIGTERM.
start  runs `serve` in the background (pidfile and log in the state dir) and returns once it answers.
stop   stops the background server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .gateway import HEALTH_PATH


def _spot_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spot-interruption-rate",
        type=float,
        default=float(os.environ.get("LOCAL_SAGEMAKER_SPOT_INTERRUPTION_RATE", "0")),
        help="probability that a managed spot attempt is interrupted (env LOCAL_SAGEMAKER_SPOT_INTERRUPTION_RATE)",
    )
    parser.add_argument(
        "--spot-interruption-window",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(1.0, 3.0),
        help="an interrupted attempt is reclaimed after a uniform MIN..MAX seconds of running (default 1 3)",
    )
    parser.add_argument(
        "--spot-seed",
        type=int,
        default=int(os.environ.get("LOCAL_SAGEMAKER_SPOT_SEED", "0")),
        help="seed of the interruption draws (env LOCAL_SAGEMAKER_SPOT_SEED)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m include.local_sagemaker",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "start"):
        sub = commands.add_parser(name)
        sub.add_argument("--port", type=int, default=4566)
        sub.add_argument("--state-dir", type=Path, required=True)
        _spot_args(sub)
        if name == "serve":
            sub.add_argument(
                "--host",
                default="127.0.0.1",
                help="address to bind (default 127.0.0.1; 0.0.0.0 only inside a container's own network)",
            )
    stop = commands.add_parser("stop")
    stop.add_argument("--state-dir", type=Path, required=True)
    return parser


def healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=timeout) as reply:  # noqa: S310 - loopback
            return reply.status == 200
    except OSError:
        return False


# glibc's malloc gives each new thread an arena of its own, up to 8 per core, and returns little of an arena's freed
# memory. The service starts threads per training job (its log reader, metric and log publishers), so over months
# of jobs its RSS crept up in arenas of freed memory; two arenas keep it flat (the GIL serialises the allocations
# anyway). MALLOC_ARENA_MAX in the environment, read by glibc at start-up, still decides when set.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def _limit_malloc_arenas() -> None:
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators do not grow per thread
        pass


def serve(args: argparse.Namespace) -> int:
    from .gateway import LocalSageMaker
    from .runner.training import SpotSettings

    _limit_malloc_arenas()  # before any thread starts
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0.0 <= args.spot_interruption_rate <= 1.0:
        print(
            f"--spot-interruption-rate must be within [0, 1], got {args.spot_interruption_rate}",
            file=sys.stderr,
        )
        return 2
    low, high = args.spot_interruption_window
    if not 0 <= low <= high:
        print(f"--spot-interruption-window needs 0 <= MIN <= MAX, got {low} {high}", file=sys.stderr)
        return 2
    spot = SpotSettings(
        interruption_rate=args.spot_interruption_rate, seed=args.spot_seed, interruption_window=(low, high)
    )
    server = LocalSageMaker(args.state_dir, args.port, spot, host=args.host)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"local SageMaker on {server.endpoint_url} (state in {args.state_dir})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.runtime.shutdown()
    return 0


def _pidfile(state_dir: Path) -> Path:
    return state_dir / "local-sagemaker.pid"


def start(args: argparse.Namespace) -> int:
    url = f"http://127.0.0.1:{args.port}"
    pidfile = _pidfile(args.state_dir)
    if healthy(url):
        print(f"local SageMaker already running on {url}")
        return 0
    args.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = args.state_dir / "local-sagemaker.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "include.local_sagemaker",
                "serve",
                "--port",
                str(args.port),
                "--state-dir",
                str(args.state_dir),
                "--spot-interruption-rate",
                str(args.spot_interruption_rate),
                "--spot-seed",
                str(args.spot_seed),
                "--spot-interruption-window",
                *(str(v) for v in args.spot_interruption_window),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pidfile.write_text(str(process.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"local SageMaker exited with {process.returncode}; see {log_path}", file=sys.stderr)
            return 1
        if healthy(url):
            print(f"local SageMaker running on {url} (pid {process.pid}, log {log_path})")
            return 0
        time.sleep(0.2)
    print(f"local SageMaker did not answer on {url} within 60 s; see {log_path}", file=sys.stderr)
    return 1


def stop(args: argparse.Namespace) -> int:
    pidfile = _pidfile(args.state_dir)
    if not pidfile.is_file():
        print("local SageMaker is not running (no pidfile)")
        return 0
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)
    print(f"local SageMaker (pid {pid}) stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return {"serve": serve, "start": start, "stop": stop}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
