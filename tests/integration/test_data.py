"""The seed CLI against the local SageMaker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def _seed_cli(local_sagemaker: Any, bucket: str, stderr: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "include.pipeline.seed",
            "--model",
            "flight_delay",
            "--from",
            "2013-03-01",
            "--to",
            "2013-03-03",
            "--bucket",
            bucket,
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **local_sagemaker.environ()},
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=120,
        check=True,
    )


def test_the_seed_cli_draws_a_progress_bar_on_a_terminal_only(local_sagemaker) -> None:
    bucket = "seed-progress"  # the CLI creates it
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    try:
        _seed_cli(local_sagemaker, bucket, follower)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert "3/3" in drawn.decode(errors="replace") and "day" in drawn.decode(errors="replace"), drawn[-300:]
    piped = _seed_cli(local_sagemaker, bucket, subprocess.PIPE)
    assert "3/3" not in piped.stderr  # logs and CI get no bar
    assert "seeded s3://" in piped.stdout and "3 days" in piped.stdout
