"""`make aws-check` makes real (read-only) calls; against the local SageMaker they answer as AWS's do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.local_sagemaker import ROLE, ROOT


def aws_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "include.aws_check", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_a_ready_account_passes_every_check(local_sagemaker, sm, bucket):
    before = sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    checked = aws_check("--bucket", bucket, "--role-arn", ROLE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for what in (
        "credentials",
        "SageMaker execution role",
        "bucket",
        "SageMaker API",
        "images for the region",
        "permissions of the execution role",
        "permissions of the Airflow connection",
    ):
        assert f"ok    {what}" in checked.stdout, checked.stdout
    assert local_sagemaker.url in checked.stdout  # it used the aws_default connection's endpoint_url
    assert "Ready for a first run." in checked.stdout
    assert sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == before  # read-only


@pytest.mark.parametrize(
    ("args", "finding"),
    [
        (("--bucket", "no-such-bucket-here"), "FAIL  bucket"),
        (("--role-arn", "arn:aws:iam::123456789012:role/NoSuchRole"), "FAIL  SageMaker execution role: NoSuchEntity"),
    ],
)
def test_a_missing_bucket_or_role_fails_naming_it(local_sagemaker, bucket, args, finding):
    merged = dict(zip(("--bucket", "--role-arn"), (bucket, ROLE), strict=True)) | dict([args])
    checked = aws_check(*(x for pair in merged.items() for x in pair))
    assert checked.returncode == 1
    assert finding in checked.stdout, checked.stdout
    assert args[1].rsplit("/", 1)[-1] in checked.stdout
    assert "1 check(s) failed" in checked.stdout
