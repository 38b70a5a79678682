"""`make aws-check`: is this AWS account ready for the DAGs? Read-only calls, before a first (paid) run.

Uses what the DAGs use: the `aws_default` connection (from AIRFLOW_CONN_AWS_DEFAULT, or boto3's own credential
chain when it is unset, as the provider does), the bucket and role of the hpo_bucket / hpo_role_arn Variables
(AIRFLOW_VAR_HPO_BUCKET / AIRFLOW_VAR_HPO_ROLE_ARN, or --bucket / --role-arn). Checks, each printed as ok/FAIL/warn:
who the caller is; that the role exists and trusts sagemaker.amazonaws.com; that the bucket exists in the
connection's region; that the caller may list SageMaker's jobs and endpoints; that the role and the caller hold
the permissions a run needs (IAM's policy simulator); that the declared models' SageMaker images exist for the region.
Exit status 1 when any check fails. Nothing is created, changed or started.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

# What the training jobs' role needs (data, checkpoints and model artifacts in the bucket, logs, the image).
ROLE_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "logs:CreateLogStream", "logs:PutLogEvents")
# What Airflow's identity needs to run the pipeline (tune, evaluate, deploy, roll back), and to hand the role over.
CALLER_ACTIONS = (
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:DescribeHyperParameterTuningJob",
    "sagemaker:StopHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateEndpoint",
    "sagemaker:UpdateEndpoint",
    "sagemaker:InvokeEndpoint",
    "s3:GetObject",
    "s3:PutObject",
    "iam:PassRole",
)


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: int = 0

    def ok(self, what: str, detail: str = "") -> None:
        self.lines.append(f"  ok    {what}{f': {detail}' if detail else ''}")

    def fail(self, what: str, detail: str) -> None:
        self.failed += 1
        self.lines.append(f"  FAIL  {what}: {detail}")

    def warn(self, what: str, detail: str) -> None:
        self.lines.append(f"  warn  {what}: {detail}")


def _error(exc: Exception) -> str:
    """An AWS error as code + message (never the request, which could carry credentials)."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".rstrip(": ") if error else str(exc)


def _session_from_connection() -> tuple[Any, str | None]:
    """The boto3 session and endpoint_url the provider's hooks would use for `aws_default`."""
    if os.environ.get("AIRFLOW_CONN_AWS_DEFAULT"):
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        hook = AwsBaseHook(aws_conn_id="aws_default")
        return hook.get_session(), hook.conn_config.endpoint_url
    import boto3

    return boto3.Session(), os.environ.get("AWS_ENDPOINT_URL")


def role_name(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role/path/Name -> Name (GetRole takes the name without its path)."""
    if ":role/" not in role_arn:
        raise ValueError(f"--role-arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {role_arn!r}")
    return role_arn.rsplit("/", 1)[-1]


def caller_principal(arn: str) -> str:
    """The IAM principal behind a caller ARN: an assumed-role session becomes its role (for the simulator)."""
    parts = arn.split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    return arn


def _trusts_sagemaker(policy: Any) -> bool:
    document = json.loads(unquote(policy)) if isinstance(policy, str) else policy
    for statement in document.get("Statement", []):
        services = (statement.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and "sagemaker.amazonaws.com" in services and "sts:AssumeRole" in actions:
            return True
    return False


def _simulate(iam: Any, report: Report, who: str, principal: str, actions: tuple[str, ...], resources: list[str]):
    try:
        results = iam.simulate_principal_policy(
            PolicySourceArn=principal, ActionNames=list(actions), ResourceArns=resources
        )["EvaluationResults"]
    except Exception as exc:  # noqa: BLE001 - the simulator itself needs a permission the caller may lack
        report.warn(f"permissions of {who}", f"not simulated ({_error(exc)})")
        return
    denied = sorted({r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed"})
    if denied:
        report.fail(f"permissions of {who}", f"{principal} is denied {', '.join(denied)}")
    else:
        report.ok(f"permissions of {who}", f"{len(actions)} actions allowed")


def check(session: Any, endpoint_url: str | None, bucket: str, role_arn: str) -> Report:
    report = Report()
    region = session.region_name or "us-east-1"

    def client(name: str) -> Any:
        return session.client(name, region_name=region, endpoint_url=endpoint_url)

    def step(what: str, call: Callable[[], str]) -> bool:
        try:
            report.ok(what, call())
            return True
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to print, not a crash
            report.fail(what, _error(exc))
            return False

    caller: dict[str, Any] = {}

    def identity() -> str:
        caller.update(client("sts").get_caller_identity())
        return f"{caller['Arn']} (account {caller['Account']}, region {region})"

    if not step("credentials", identity):
        return report  # nothing else can be called
    iam = client("iam")

    def role() -> str:
        described = iam.get_role(RoleName=role_name(role_arn))["Role"]
        if described["Arn"] != role_arn:
            raise ValueError(f"the role named {described['RoleName']} is {described['Arn']}, not {role_arn}")
        if not _trusts_sagemaker(described["AssumeRolePolicyDocument"]):
            raise ValueError(f"{role_arn} does not let sagemaker.amazonaws.com assume it (its trust policy)")
        return f"{role_arn} exists and SageMaker may assume it"

    def bucket_region() -> str:
        try:
            client("s3").head_bucket(Bucket=bucket)
        except Exception as exc:
            raise ValueError(f"s3://{bucket}: {_error(exc)} (HeadBucket)") from exc
        located = client("s3").get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1"
        if located != region:
            raise ValueError(f"s3://{bucket} is in {located}; SageMaker jobs in {region} need a bucket in {region}")
        return f"s3://{bucket} in {region}"

    def sagemaker_read() -> str:
        sm = client("sagemaker")
        tuning = sm.list_hyper_parameter_tuning_jobs(MaxResults=1)["HyperParameterTuningJobSummaries"]
        sm.list_training_jobs(MaxResults=1)
        sm.list_endpoints(MaxResults=1)
        return f"list calls allowed ({'has' if tuning else 'no'} tuning jobs yet)"

    def images() -> str:
        from include.pipeline.spec import SPECS_DIR, load_spec
        from include.pipeline.tuning_config import image_uri

        specs = [load_spec(path) for path in sorted(SPECS_DIR.glob("*.yaml"))]
        return "; ".join(f"{spec.name}: {image_uri(spec, region)}" for spec in specs)

    role_ok = step("SageMaker execution role", role)
    step("bucket", bucket_region)
    step("SageMaker API", sagemaker_read)
    step("images for the region", images)
    bucket_arns = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    if role_ok:
        _simulate(iam, report, "the execution role", role_arn, ROLE_ACTIONS, bucket_arns)
    _simulate(iam, report, "the Airflow connection", caller_principal(caller["Arn"]), CALLER_ACTIONS, ["*"])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make aws-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bucket", default=os.environ.get("AIRFLOW_VAR_HPO_BUCKET", "hpo-demo"))
    parser.add_argument("--role-arn", default=os.environ.get("AIRFLOW_VAR_HPO_ROLE_ARN"))
    args = parser.parse_args(argv)
    if not args.role_arn:
        parser.error("the SageMaker execution role: set AIRFLOW_VAR_HPO_ROLE_ARN or pass --role-arn")
    try:
        role_name(args.role_arn)
    except ValueError as exc:
        parser.error(str(exc))
    session, endpoint_url = _session_from_connection()
    print(f"Checking {'AWS' if not endpoint_url else endpoint_url} for the hpo DAGs (read-only calls):")
    report = check(session, endpoint_url, args.bucket, args.role_arn)
    print("\n".join(report.lines))
    print(f"{report.failed} check(s) failed; see docs/aws.md." if report.failed else "Ready for a first run.")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
