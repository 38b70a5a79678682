"""The Makefile's housekeeping targets on a checkout that was never installed."""

from __future__ import annotations

import shutil
import subprocess

from harness.local_sagemaker import ROOT


def test_make_stop_and_clean_work_on_a_fresh_checkout_without_a_venv(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / ".local" / "sagemaker").mkdir(parents=True)
    (tmp_path / ".local" / "sagemaker" / "state.sqlite3").write_bytes(b"")

    for target in ("stop", "clean"):
        done = subprocess.run(["make", target], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"make {target}: {done.stdout}{done.stderr}"
    assert not (tmp_path / ".local").exists()
    assert not (tmp_path / ".venv").exists()  # neither target installs anything
