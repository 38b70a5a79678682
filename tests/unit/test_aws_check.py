"""`make aws-check`'s report and its refusals, without calling anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.local_sagemaker import ROOT
from include.aws_check import caller_principal, role_name


def aws_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "include.aws_check", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_a_malformed_role_arn_is_refused_before_any_call():
    checked = aws_check("--role-arn", "SageMakerRole")
    assert checked.returncode == 2
    assert "--role-arn must be an IAM role ARN" in checked.stderr
    with pytest.raises(ValueError, match="role ARN"):
        role_name("arn:aws:iam::123456789012:user/someone")


def test_an_assumed_role_session_is_simulated_as_its_role():
    assert caller_principal("arn:aws:sts::123456789012:assumed-role/Airflow/i-0abc") == (
        "arn:aws:iam::123456789012:role/Airflow"
    )
    assert caller_principal("arn:aws:iam::123456789012:user/ci") == "arn:aws:iam::123456789012:user/ci"
