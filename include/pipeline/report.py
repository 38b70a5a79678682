"""The report of a finished tuning job: its training jobs, two plots and an HTML page published to S3.

`collect_training_jobs` reads the jobs from SageMaker, `build_report` is pure (the jobs and the tuning task's
XCom in, HTML and PNG bytes out) and `publish_report` writes the page, its images and a JSON summary next to
each other in S3 and returns a presigned link to the page. Nothing here knows which backend answers.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .spot import ON_DEMAND_USD_PER_HOUR, PRICES_AS_OF

# SigV4 presigned URLs are valid for at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# Tuned values spanning more than this ratio get a log x-axis, as a Logarithmic range would be searched.
LOG_AXIS_SPAN = 100.0
OBJECTIVE_PNG = "objective.png"
HYPERPARAMETERS_PNG = "hyperparameters.png"


@dataclass(frozen=True)
class Report:
    html: str
    images: dict[str, bytes]  # PNG bytes by file name, relative to the page
    totals: dict[str, Any]
    jobs: list[dict[str, Any]] = field(default_factory=list)  # the job table, for summary.json


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def collect_training_jobs(sm_client: Any, tuning_job_name: str, page_size: int = 100) -> list[dict[str, Any]]:
    """One JSON-safe dict per training job of the tuning job, oldest first.

    The list call gives the tuned hyperparameters and the objective; only DescribeTrainingJob has the
    training and billable seconds, the spot flag and the final metrics, hence one describe per job.
    """
    pages = sm_client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=tuning_job_name, PaginationConfig={"PageSize": page_size}
    )
    summaries = [summary for page in pages for summary in page["TrainingJobSummaries"]]
    summaries.sort(key=lambda s: (s["CreationTime"], s["TrainingJobName"]))
    jobs = []
    for summary in summaries:
        described = sm_client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        status = described["TrainingJobStatus"]
        jobs.append(
            {
                "name": summary["TrainingJobName"],
                "status": status,
                "objective_metric": objective.get("MetricName"),
                "objective": objective.get("Value"),
                "hyperparameters": dict(summary.get("TunedHyperParameters") or {}),
                "created": _iso(summary["CreationTime"]),
                "started": _iso(described.get("TrainingStartTime")),
                "ended": _iso(described.get("TrainingEndTime")),
                "training_seconds": described.get("TrainingTimeInSeconds"),
                "billable_seconds": described.get("BillableTimeInSeconds"),
                "instance_type": (described.get("ResourceConfig") or {}).get("InstanceType"),
                "instance_count": (described.get("ResourceConfig") or {}).get("InstanceCount", 1),
                "spot": bool(described.get("EnableManagedSpotTraining", False)),
                # A tuning job stops its training jobs only by early stopping or by being stopped itself;
                # the API does not tell the two apart.
                "stopped_early": status == "Stopped",
                "failure_reason": described.get("FailureReason") or summary.get("FailureReason"),
                "final_metrics": {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []},
            }
        )
    return jobs


def collect_parents(sm_client: Any, tuning_request: dict[str, Any]) -> list[dict[str, Any]]:
    """The warm-start parents of a tuning request with their best training job (empty for a cold start)."""
    from botocore.exceptions import ClientError

    parents = []
    for parent in (tuning_request.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []:
        name = parent["HyperParameterTuningJobName"]
        try:
            described = sm_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except ClientError as error:  # deleted since the child started: still listed, without a best
            parents.append(
                {"name": name, "status": error.response["Error"]["Code"], "best_training_job": None, "objective": None}
            )
            continue
        best = described.get("BestTrainingJob") or {}
        parents.append(
            {
                "name": name,
                "status": described["HyperParameterTuningJobStatus"],
                "best_training_job": best.get("TrainingJobName"),
                "objective": (best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value"),
            }
        )
    return parents


def parents_best(parents: Sequence[dict[str, Any]], maximize: bool) -> float | None:
    scored = [p["objective"] for p in parents if p["objective"] is not None]
    if not scored:
        return None
    return max(scored) if maximize else min(scored)


def best_so_far(values: Iterable[float], maximize: bool) -> list[float]:
    """The running best: [3, 1, 4] → [3, 3, 4] when maximizing, [3, 1, 1] when minimizing."""
    out: list[float] = []
    for value in values:
        if out and (value <= out[-1] if maximize else value >= out[-1]):
            out.append(out[-1])
        else:
            out.append(value)
    return out


def report_totals(jobs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Jobs by status, seconds trained and billed, and the spot saving as AWS computes it (over spot jobs)."""
    spot = [j for j in jobs if j["spot"]]
    spot_training = sum(j["training_seconds"] or 0 for j in spot)
    spot_billable = sum(j["billable_seconds"] or 0 for j in spot)
    # Billable seconds are already net of the spot discount, so the on-demand rate prices them (AWS reports spot
    # savings as 1 - billable/training). A job on an instance type missing from the price table leaves no total.
    prices = [ON_DEMAND_USD_PER_HOUR.get(j.get("instance_type") or "") for j in jobs]
    billable_usd = (
        sum(
            (j["billable_seconds"] or 0) * j.get("instance_count", 1) * price / 3600
            for j, price in zip(jobs, prices, strict=True)
        )
        if all(p is not None for p in prices)
        else None
    )
    return {
        "billable_usd": billable_usd,
        "jobs": len(jobs),
        "jobs_by_status": dict(sorted(Counter(j["status"] for j in jobs).items())),
        "training_seconds": sum(j["training_seconds"] or 0 for j in jobs),
        "billable_seconds": sum(j["billable_seconds"] or 0 for j in jobs),
        "spot_jobs": len(spot),
        "spot_savings_percent": 100 * (1 - spot_billable / spot_training) if spot_training else None,
    }


def hyperparameter_scale(values: Sequence[str]) -> str:
    """How to lay out a hyperparameter's values on an axis: "log", "linear" or "categorical"."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return "categorical"
    if min(numbers) > 0 and max(numbers) / min(numbers) > LOG_AXIS_SPAN:
        return "log"
    return "linear"


def _objective_png(order: list[int], values: list[float], maximize: bool, metric: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    try:
        ax.scatter(order, values, label="job", zorder=3)
        ax.plot(order, best_so_far(values, maximize), drawstyle="steps-post", color="C1", label="best so far")
        ax.set_xlabel("job, in launch order")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} ({'maximize' if maximize else 'minimize'})")
        ax.legend()
        return _png(fig)
    finally:
        plt.close(fig)


def _hyperparameters_png(jobs: list[dict[str, Any]], names: list[str], metric: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
    try:
        for ax, name in zip(axes.flat, names, strict=False):
            tried = [j for j in jobs if name in j["hyperparameters"]]
            values = [j["hyperparameters"][name] for j in tried]
            objectives = [j["objective"] for j in tried]
            scale = hyperparameter_scale(values)
            if scale == "categorical":
                categories = sorted(set(values))
                ax.scatter([categories.index(v) for v in values], objectives)
                ax.set_xticks(range(len(categories)), categories)
                ax.set_xlim(-0.5, len(categories) - 0.5)  # keep the end categories off the frame
            else:
                ax.scatter([float(v) for v in values], objectives)
                if scale == "log":
                    ax.set_xscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel(metric)
        for ax in axes.flat[len(names) :]:
            ax.set_visible(False)
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _plots(tuning: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, bytes]:
    scored = [(i, j) for i, j in enumerate(jobs, start=1) if j["objective"] is not None]
    if not scored:
        return {}
    metric = tuning.get("objective_metric") or scored[0][1]["objective_metric"] or "objective"
    maximize = tuning.get("objective_type", "Maximize") == "Maximize"
    images = {
        OBJECTIVE_PNG: _objective_png([i for i, _ in scored], [j["objective"] for _, j in scored], maximize, metric)
    }
    names = sorted({name for _, j in scored for name in j["hyperparameters"]})
    if names:
        images[HYPERPARAMETERS_PNG] = _hyperparameters_png([j for _, j in scored], names, metric)
    return images


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _cell(value: Any) -> str:
    return html.escape(_text(value))


def _key_value_table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _hyperparameter_text(hyperparameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(hyperparameters.items()))


JOB_COLUMNS = ("Job", "Status", "Objective", "Hyperparameters", "Training s", "Billable s", "Note")


def _job_row(job: dict[str, Any]) -> str:
    cells = (
        job["name"],
        job["status"] + (" (spot)" if job["spot"] else ""),
        job["objective"],
        _hyperparameter_text(job["hyperparameters"]),
        job["training_seconds"],
        job["billable_seconds"],
        job.get("failure_reason") or ("stopped early" if job.get("stopped_early") else ""),
    )
    return "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in cells) + "</tr>"


_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}"
    "img{max-width:100%}.muted{color:#666}"
)


def _warm_start_section(tuning: dict[str, Any], parents: list[dict[str, Any]], best: float | None) -> list[str]:
    metric = str(tuning.get("objective_metric") or "Objective")
    child = tuning.get("objective_value")
    rows = [(f"{p['name']} (parent, {p['status']})", p["objective"]) for p in parents]
    rows += [("Parents' best", best), (f"{tuning.get('tuning_job_name')} (this job)", child)]
    if best is not None and child is not None:
        rows.append(("This job minus the parents' best", child - best))
    header = f"<p>TransferLearning from {len(parents)} parent(s); {html.escape(metric)} of each one's best job:</p>"
    return ["<h2>Warm start</h2>", header, _key_value_table(rows)]


def build_report(
    tuning: dict[str, Any],
    jobs: list[dict[str, Any]],
    evaluation: dict[str, Any] | None = None,
    parents: list[dict[str, Any]] | None = None,
) -> Report:
    """The page, its plots and the totals. Jobs without an objective are in the table but not in the plots.

    `parents` (from collect_parents) adds a warm-start section: each parent's best next to this job's best.
    """
    totals = report_totals(jobs)
    if parents:
        totals["parents_best"] = parents_best(parents, tuning.get("objective_type", "Maximize") == "Maximize")
    images = _plots(tuning, jobs)
    name = html.escape(str(tuning.get("tuning_job_name", "")))
    savings = totals["spot_savings_percent"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Tuning report: {name}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Tuning job {name}</h1>",
        _key_value_table(
            [
                ("Strategy", tuning.get("strategy")),
                ("Status", tuning.get("status")),
                ("Created", tuning.get("created")),
                ("Ended", tuning.get("ended")),
                ("ARN", tuning.get("tuning_job_arn")),
            ]
        ),
        "<h2>Best training job</h2>",
        _key_value_table(
            [
                ("Job", tuning.get("best_training_job")),
                (str(tuning.get("objective_metric") or "Objective"), tuning.get("objective_value")),
                ("Model artifact", tuning.get("best_model_artifact")),
                *sorted((tuning.get("best_hyperparameters") or {}).items()),
            ]
        ),
    ]
    if parents:
        parts += _warm_start_section(tuning, parents, totals["parents_best"])
    if evaluation:
        parts += ["<h2>Evaluation on the holdout</h2>", _key_value_table(evaluation.items())]
    parts += [
        "<h2>Totals</h2>",
        _key_value_table(
            [
                ("Training jobs", totals["jobs"]),
                *((f"– {status}", count) for status, count in totals["jobs_by_status"].items()),
                ("Training seconds", totals["training_seconds"]),
                ("Billable seconds", totals["billable_seconds"]),
                (
                    f"Billable cost (on-demand prices of {PRICES_AS_OF})",
                    "unknown instance price" if totals["billable_usd"] is None else f"${totals['billable_usd']:,.4f}",
                ),
                ("Spot jobs", totals["spot_jobs"]),
                ("Spot savings", "no spot jobs" if savings is None else f"{savings:.1f} %"),
            ]
        ),
        "<h2>Plots</h2>",
    ]
    if images:
        parts += [f'<p><img src="{f}" alt="{f}"></p>' for f in (OBJECTIVE_PNG, HYPERPARAMETERS_PNG) if f in images]
    else:
        parts.append("<p class='muted'>No training job reported an objective metric, so there is nothing to plot.</p>")
    header = "".join(f"<th>{h}</th>" for h in JOB_COLUMNS)
    rows = "".join(_job_row(job) for job in jobs)
    parts += [f"<h2>Training jobs</h2><table><tr>{header}</tr>{rows}</table>", "</body></html>"]
    return Report(html="\n".join(parts), images=images, totals=totals, jobs=list(jobs))


def publish_report(
    s3_client: Any, report: Report, bucket: str, prefix: str, expires_in: int = MAX_PRESIGN_SECONDS
) -> dict[str, Any]:
    """Write index.html, the PNGs beside it and summary.json under prefix; return their URIs and a page link.

    The link is presigned by the client, so it points at whatever endpoint the client was built for.
    A link signed with temporary credentials stops working when they expire, whatever expires_in says.
    """
    if not 0 < expires_in <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds, got {expires_in}")
    base = prefix.strip("/")

    def key(file: str) -> str:
        return f"{base}/{file}" if base else file

    images = []
    for file, png in sorted(report.images.items()):
        s3_client.put_object(Bucket=bucket, Key=key(file), Body=png, ContentType="image/png")
        images.append(f"s3://{bucket}/{key(file)}")
    summary = json.dumps({"totals": report.totals, "jobs": report.jobs}, indent=2)
    s3_client.put_object(Bucket=bucket, Key=key("summary.json"), Body=summary.encode(), ContentType="application/json")
    # The page last: once it exists, everything it links to does too.
    s3_client.put_object(
        Bucket=bucket, Key=key("index.html"), Body=report.html.encode(), ContentType="text/html; charset=utf-8"
    )
    url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key("index.html")}, ExpiresIn=expires_in
    )
    return {"report_uri": f"s3://{bucket}/{key('index.html')}", "report_url": url, "images": images}
