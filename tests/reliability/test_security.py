"""Security properties, each checked live or on the real code: loopback-only sockets, no shell, safe tarball
extraction, no credentials in logs, and no high-severity bandit findings.

The service tests share one private local SageMaker (not the session one), started with distinctive fake AWS
credentials in its own environment, so a leak of either the clients' or the server's credentials shows up.
"""

from __future__ import annotations

import ast
import io
import ipaddress
import json
import socket
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from secrets import token_hex
from typing import Any

import boto3
import psutil
import pytest
from botocore.exceptions import ClientError

from harness.local_sagemaker import (
    REGION,
    ROLE,
    ROOT,
    XGBOOST_IMAGE,
    LocalSageMakerProcess,
    synthetic_csv,
    training_request,
    unique,
    upload_source,
    wait_for_endpoint,
    wait_for_job,
)
from include.archives import UnsafeArchive, safe_extract
from tests.reliability.figures import record

BUCKET = "security-tests"
ENVIRONMENT_MARKER = "JOB-ENVIRONMENT-DUMP"
SECRETS = {
    "client secret key": f"SECRET-{token_hex(12)}",
    "client session token": f"TOKEN-{token_hex(12)}",
    "server environment secret key": f"SERVER-SECRET-{token_hex(12)}",
    "server environment session token": f"SERVER-TOKEN-{token_hex(12)}",
}
# Trains by printing its whole environment (so a leaked credential would land in the job log) and serves a
# constant with stdlib only, so an endpoint costs one small process.
ENTRY_POINT = f'''
import os
from pathlib import Path

def model_fn(model_dir):
    return 0.5

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    return model

def output_fn(prediction, accept):
    return str(prediction)

if __name__ == "__main__":
    print("{ENVIRONMENT_MARKER}", sorted(os.environ.items()), flush=True)
    Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("0.5")
'''.encode()


def client(server: LocalSageMakerProcess, service: str, token: str | None = None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="AKIDSECURITYTEST",
        aws_secret_access_key=SECRETS["client secret key"],
        aws_session_token=token or SECRETS["client session token"],
        region_name=REGION,
    )
    return session.client(service, endpoint_url=server.url)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMakerProcess]:
    state = tmp_path_factory.mktemp("security") / "state"
    with pytest.MonkeyPatch.context() as env:  # only the server's environment: Popen copies it at start
        env.setenv("AWS_ACCESS_KEY_ID", "AKIDSERVERENV")
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRETS["server environment secret key"])
        env.setenv("AWS_SESSION_TOKEN", SECRETS["server environment session token"])
        process = LocalSageMakerProcess(state).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def code(server: LocalSageMakerProcess) -> str:
    """The entry point's sourcedir.tar.gz in S3, next to a small training channel."""
    s3 = client(server, "s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.csv", Body=synthetic_csv(rows=50).encode())
    return upload_source(s3, BUCKET, {"entry.py": ENTRY_POINT}, "code/entry.tar.gz")


# --- 1. loopback only ---------------------------------------------------------------------------------
def listening_sockets(pid: int) -> list[tuple[int, str, int]]:
    """(pid, ip, port) of every listening TCP and unconnected UDP socket of pid and its descendants."""
    root = psutil.Process(pid)
    found = []
    for process in (root, *root.children(recursive=True)):
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for conn in connections:
            listening = conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr)
            if listening:
                found.append((process.pid, conn.laddr.ip, conn.laddr.port))
    return found


def test_the_service_and_its_endpoints_listen_on_loopback_only(server: LocalSageMakerProcess, code: str) -> None:
    sm = client(server, "sagemaker")
    name = unique("sec-ep")
    container = {
        "Image": XGBOOST_IMAGE,
        "Environment": {"SAGEMAKER_PROGRAM": "entry.py", "SAGEMAKER_SUBMIT_DIRECTORY": code},
    }
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    endpoint = wait_for_endpoint(sm, name, timeout=60)
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")

    assert server.process is not None
    sockets = listening_sockets(server.process.pid)
    assert (server.process.pid, "127.0.0.1", server.port) in sockets, sockets
    assert len({pid for pid, _, _ in sockets}) >= 2, f"no endpoint process among the listeners: {sockets}"
    exposed = [s for s in sockets if not ipaddress.ip_address(s[1]).is_loopback]
    assert not exposed, f"listening beyond loopback (pid, ip, port): {exposed}"
    record("security", "listening sockets checked", len(sockets))


# --- 2. no shell ----------------------------------------------------------------------------------------
SCANNED = ("include", "plugins", "dags", "training_scripts", "benchmarks", "tests")
SHELL_FUNCTIONS = {
    "os.system",
    "os.popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def shell_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every call with shell=<anything but False> and every call or import of a shell runner."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name in SHELL_FUNCTIONS:
                found.append((node.lineno, f"{name}()"))
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value):
                    found.append((node.lineno, f"{name or 'call'}(shell={ast.unparse(keyword.value)})"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in SHELL_FUNCTIONS:
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
    return sorted(found)


def test_the_scanner_sees_each_kind_of_shell_use() -> None:
    flag = "shell"  # keeps this file's own source free of what it looks for
    snippet = f"run(cmd, {flag}=True)\nrun(cmd, {flag}=x)\nrun(cmd, {flag}=False)\nos.system(c)\nos.popen(c)\n"
    snippet += "from subprocess import getoutput\n"
    assert [line for line, _ in shell_uses(ast.parse(snippet))] == [1, 2, 4, 5, 6]


def test_no_code_runs_a_shell() -> None:
    files = [path for top in SCANNED for path in sorted((ROOT / top).rglob("*.py"))]
    assert len(files) > 50, files
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in files
        for line, what in shell_uses(ast.parse(path.read_bytes(), filename=str(path)))
    ]
    assert not found, "shell use:\n" + "\n".join(found)
    record("security", "python files scanned for shell use", len(files))


# --- 3. tarballs ----------------------------------------------------------------------------------------
def tar_gz(path: Path, members: list[tuple[str, bytes, str]]) -> Path:
    """members: (name, kind, content or link target); kind is a tarfile type such as tarfile.SYMTYPE."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload.encode()))
            else:
                info.linkname = payload
                tar.addfile(info)
    return path


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_sandbox(root: Path) -> Path:
    """root/dest is the target (not yet created); root/outside holds the file that bad members aim at."""
    (root / "outside").mkdir(parents=True)
    (root / "outside" / "target.txt").write_text("original")
    return root


def bad_members(sandbox: Path) -> dict[str, tuple[str, bytes, str]]:
    outside = sandbox / "outside"
    return {
        "absolute path": (str(outside / "absolute.txt"), tarfile.REGTYPE, "x"),
        "../ member": ("../outside/climbed.txt", tarfile.REGTYPE, "x"),
        "nested ../ member": ("a/b/../../../outside/climbed.txt", tarfile.REGTYPE, "x"),
        "symlink to an absolute path outside": ("link", tarfile.SYMTYPE, str(outside)),
        "relative symlink outside": ("link", tarfile.SYMTYPE, "../outside"),
        "hardlink to an absolute path outside": ("hard", tarfile.LNKTYPE, str(outside / "target.txt")),
        "relative hardlink outside": ("hard", tarfile.LNKTYPE, "../outside/target.txt"),
        "character device": ("null", tarfile.CHRTYPE, ""),
        "block device": ("disk", tarfile.BLKTYPE, ""),
        "fifo": ("pipe", tarfile.FIFOTYPE, ""),
    }


def test_safe_extract_refuses_members_that_could_escape_and_writes_nothing(tmp_path: Path) -> None:
    problems = []
    cases = bad_members(tmp_path)  # names only; each case gets its own sandbox below
    for index, case in enumerate(cases):
        sandbox = make_sandbox(tmp_path / f"case-{index}")
        name, kind, payload = bad_members(sandbox)[case]
        # A good file before the bad member, a write through "link" after it: none of them may land.
        members = [("ok.txt", tarfile.REGTYPE, "fine"), (name, kind, payload), ("link/x.txt", tarfile.REGTYPE, "y")]
        archive = tar_gz(tmp_path / f"case-{index}.tar.gz", members)
        try:
            safe_extract(archive, sandbox / "dest")
            problems.append(f"{case}: extracted without error")
        except UnsafeArchive as error:
            if repr(name) not in str(error):
                problems.append(f"{case}: the error does not name the member: {error}")
        except Exception as error:
            problems.append(f"{case}: raised {error!r}, not UnsafeArchive")
        written = snapshot(sandbox) - {"dest", "outside", "outside/target.txt"}
        if written:
            problems.append(f"{case}: wrote {sorted(written)}")
        if (sandbox / "outside" / "target.txt").read_text() != "original":
            problems.append(f"{case}: changed the file outside")
    assert not problems, "\n".join(problems)
    record("security", "archives refused", len(cases))


def test_safe_extract_extracts_a_normal_archive_and_drops_special_mode_bits(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path / "sandbox")
    members = [
        ("model.txt", tarfile.REGTYPE, "m"),
        ("code/train.py", tarfile.REGTYPE, "print(1)"),
        ("code/lib/util.py", tarfile.REGTYPE, ""),
    ]
    archive = tar_gz(tmp_path / "good.tar.gz", members)
    with tarfile.open(archive, "r:gz") as tar, tarfile.open(tmp_path / "setuid.tar.gz", "w:gz") as out:
        for info in tar.getmembers():
            info.mode = 0o4777  # setuid, world-writable: the "data" filter must strip both
            out.addfile(info, tar.extractfile(info))
    extracted = safe_extract(tmp_path / "setuid.tar.gz", sandbox / "dest")
    assert sorted(extracted) == sorted(name for name, _, _ in members)
    for name, _, content in members:
        path = sandbox / "dest" / name
        assert path.read_text() == content
        assert path.stat().st_mode & 0o4022 == 0, f"{name}: mode {oct(path.stat().st_mode)}"
    assert snapshot(sandbox / "outside") == {"target.txt"}


# --- 4. credentials stay out of logs ---------------------------------------------------------------------
def leaks(texts: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    return [
        f"{what} in {where}"
        for what, secret in secrets.items()
        for where, text in texts.items()
        if secret.encode() in text
    ]


def service_output(server: LocalSageMakerProcess) -> dict[str, bytes]:
    """The server's log and every file under its state directory (job logs, endpoint logs, saved state)."""
    state = ROOT / server.state_dir
    files = [server.log_path, *(p for p in state.rglob("*") if p.is_file())]
    return {str(path): path.read_bytes() for path in files}


def test_credentials_never_appear_in_service_or_job_logs(server: LocalSageMakerProcess, code: str) -> None:
    sm, s3, logs = (client(server, service) for service in ("sagemaker", "s3", "logs"))
    sm.list_training_jobs()
    s3.list_objects_v2(Bucket=BUCKET)
    with pytest.raises(ClientError):
        sm.describe_training_job(TrainingJobName="does-not-exist")
    with pytest.raises(ClientError):
        s3.get_object(Bucket=BUCKET, Key="does/not/exist")

    name = unique("sec-job")
    hyperparameters = {"sagemaker_program": "entry.py", "sagemaker_submit_directory": code}
    request = training_request(name, {"train": f"s3://{BUCKET}/data/train/"}, f"s3://{BUCKET}/out", hyperparameters)
    sm.create_training_job(**request)
    job = wait_for_job(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    with pytest.raises(ClientError, match="ResourceInUse"):
        sm.create_training_job(**request)

    events = logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name)["events"]
    texts = service_output(server)
    texts["CloudWatch Logs"] = "\n".join(event["message"] for event in events).encode()
    # The scan must see the job's output (its whole environment), or it proves nothing.
    assert ENVIRONMENT_MARKER.encode() in texts["CloudWatch Logs"]
    assert any(ENVIRONMENT_MARKER.encode() in text for where, text in texts.items() if where.endswith(".log"))
    found = leaks(texts, SECRETS)
    assert not found, found
    record("security", "files and log streams scanned for credentials", len(texts))


def test_a_presigned_urls_secrets_stay_out_of_the_service_log(server: LocalSageMakerProcess, code: str) -> None:
    token = f"PRESIGNED-TOKEN-{token_hex(12)}"  # its own token, so a leak here cannot fail the test above
    url = client(server, "s3", token).generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "code/entry.tar.gz"}
    )
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["Signature"][0]
    assert token in urllib.parse.unquote(url)
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 (the test's own loopback service)
        assert reply.status == 200
    secrets = {"presigned URL session token": token, "presigned URL signature": signature}
    assert not leaks(service_output(server), secrets)
    assert b"x-amz-security-token=REDACTED" in server.log_path.read_bytes()  # the request is still logged


# --- 5. bandit ------------------------------------------------------------------------------------------
def test_bandit_finds_nothing_of_high_severity() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", "include", "plugins", "dags", "-lll", "-f", "json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.stdout, f"bandit did not run (is requirements.txt installed?): {completed.stderr[-2000:]}"
    report = json.loads(completed.stdout)
    assert not report["errors"], f"bandit could not scan: {report['errors']}"
    totals = report["metrics"]["_totals"]
    assert totals["loc"] > 1000, totals
    high = [
        f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_text']}"
        for r in report["results"]
        if r["issue_severity"] == "HIGH"
    ]
    assert not high, "bandit, high severity:\n" + "\n".join(high)
    record("security", "bandit high-severity findings", len(high))
    record("security", "bandit medium-severity findings", totals["SEVERITY.MEDIUM"])


def test_motos_internal_api_is_not_reachable_through_the_gateway(server: LocalSageMakerProcess, code: str) -> None:
    """moto's reset would empty the services in memory (the state directory keeping everything); its dump would
    show every object. Neither is an AWS API."""
    import urllib.error
    import urllib.request

    for method, path in (("POST", "/moto-api/reset"), ("GET", "/moto-api/data.json"), ("GET", "/moto-api/")):
        request = urllib.request.Request(server.url + path, data=b"" if method == "POST" else None, method=method)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (the test's loopback server)
        assert refused.value.code == 404, path
    listed = client(server, "s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    assert {o["Key"] for o in listed} >= {"data/train/part-0.csv", "code/entry.tar.gz"}  # nothing was reset
