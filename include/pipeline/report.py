"""The report of one run: the decision and what serves now first, then Optuna's plots of the tuning job, its jobs.

`collect_*` read what the page needs from AWS (SageMaker, and CloudWatch Logs for each job's per-round
objective); `serving_outcome` states what the run left serving; `build_report` is pure (those facts in, HTML
and PNG bytes out) and `publish_report` writes the page, its images and a JSON summary next to each other in S3
and returns a presigned link to the page. The plots are Optuna's matplotlib views of a study rebuilt from the
tuning job (report_study.py); the model's history across runs is a page of its own (report_history.py).
Nothing here knows which backend answers.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .spot import ON_DEMAND_USD_PER_HOUR, PRICES_AS_OF

# SigV4 presigned URLs are valid for at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# AMT adds the objective to each training job's metric definitions under this name.
AMT_OBJECTIVE_METRIC = "ObjectiveMetric"
# The outcomes a run can leave behind, as the summary names them.
DEPLOYED, KEPT, ROLLED_BACK, NOT_DEPLOYED, UNVERIFIED, NOT_EVALUATED = (
    "deployed",
    "kept",
    "rolled back",
    "not deployed",
    "deployed, not verified",
    "not evaluated",
)


@dataclass(frozen=True)
class Report:
    html: str
    images: dict[str, bytes]  # PNG bytes by file name, relative to the page
    totals: dict[str, Any]
    jobs: list[dict[str, Any]] = field(default_factory=list)  # the job table, for summary.json
    outcome: dict[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    """What a run left serving: `state` (one of the names above), a headline sentence and why."""

    state: str
    headline: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "headline": self.headline, "detail": self.detail}


# ------------------------------------------------------------------------------------------- collecting


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _objective_regex(described: dict[str, Any], metric: str | None) -> str | None:
    definitions = (described.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    for name in (metric, AMT_OBJECTIVE_METRIC):
        regex = next((d["Regex"] for d in definitions if d["Name"] == name), None)
        if regex:
            return regex
    return None


def metric_curve(lines: Iterable[str], regex: str) -> list[float]:
    """Every value the objective's regex finds in the log, in order: one per round for a per-round print.

    SageMaker applies a metric definition to each log line and keeps the first capture group; the last value
    is the final objective (https://docs.aws.amazon.com/sagemaker/latest/dg/training-metrics.html).
    """
    pattern = re.compile(regex)
    values = []
    for line in lines:
        for match in pattern.finditer(line):
            try:
                values.append(float(match.group(1)))
            except (IndexError, TypeError, ValueError):
                continue
    return values


def read_job_log(logs_client: Any, job_name: str, limit: int = 10_000) -> list[str]:
    """The first instance's log lines of a training job from CloudWatch Logs (stream `{job}/algo-1-…`).

    Empty when the job has no stream (yet), e.g. it failed before printing. Stops after `limit` lines.
    """
    from botocore.exceptions import ClientError

    try:
        streams = logs_client.describe_log_streams(logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{job_name}/")[
            "logStreams"
        ]
    except ClientError:
        return []
    if not streams:
        return []
    stream = sorted(s["logStreamName"] for s in streams)[0]
    lines: list[str] = []
    token = None
    while len(lines) < limit:
        kwargs: dict[str, str] = {"nextToken": token} if token else {}
        page = logs_client.get_log_events(
            logGroupName=TRAINING_LOG_GROUP, logStreamName=stream, startFromHead=True, **kwargs
        )
        lines += [event["message"] for event in page["events"]]
        # GetLogEvents returns the token it was given once the end is reached.
        if not page["events"] or page.get("nextForwardToken") in (None, token):
            break
        token = page["nextForwardToken"]
    return lines[:limit]


def collect_training_jobs(
    sm_client: Any, tuning_job_name: str, page_size: int = 100, logs_client: Any = None
) -> list[dict[str, Any]]:
    """One JSON-safe dict per training job of the tuning job, oldest first.

    The list call gives the tuned hyperparameters and the objective; only DescribeTrainingJob has the
    training and billable seconds, the spot flag and the final metrics, hence one describe per job. With a
    CloudWatch Logs client, `curve` holds the objective at every round, parsed from the job's log with the
    job's own metric definition (DescribeTrainingJob keeps only the final values).
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
        regex = _objective_regex(described, objective.get("MetricName"))
        curve = (
            metric_curve(read_job_log(logs_client, summary["TrainingJobName"]), regex)
            if logs_client is not None and regex
            else []
        )
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
                "curve": [v for v in curve if math.isfinite(v)],
            }
        )
    return jobs


def collect_ranges(sm_client: Any, tuning_job_name: str) -> dict[str, dict[str, Any]]:
    """The tuning job's hyperparameter ranges by name, each with its Kind (Integer, Continuous, Categorical)."""
    from .report_study import tuned_ranges

    return tuned_ranges(sm_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_job_name))


def collect_objective(sm_client: Any, training_job_name: str | None, metric: str | None) -> float | None:
    """A training job's final value of metric (e.g. the champion's objective in its own tuning job), or None."""
    from botocore.exceptions import ClientError

    if not training_job_name or not metric:
        return None
    try:
        described = sm_client.describe_training_job(TrainingJobName=training_job_name)
    except ClientError:
        return None
    finals = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []}
    return finals.get(metric, finals.get(AMT_OBJECTIVE_METRIC))


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


def report_totals(jobs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Jobs by status, seconds trained and billed, their price, and the spot saving as AWS computes it.

    Billable seconds are already net of the spot discount, so the on-demand rate prices them (AWS reports spot
    savings as 1 - billable/training); `on_demand_usd` prices the training seconds instead, what the same jobs
    would have cost on on-demand instances. A job on an instance type missing from the price table leaves no
    price.
    """
    spot = [j for j in jobs if j["spot"]]
    spot_training = sum(j["training_seconds"] or 0 for j in spot)
    spot_billable = sum(j["billable_seconds"] or 0 for j in spot)
    prices = [ON_DEMAND_USD_PER_HOUR.get(j.get("instance_type") or "") for j in jobs]
    priced = all(p is not None for p in prices)

    def usd(seconds: str) -> float | None:
        if not priced:
            return None
        return sum((j[seconds] or 0) * j.get("instance_count", 1) * p / 3600 for j, p in zip(jobs, prices, strict=True))

    return {
        "billable_usd": usd("billable_seconds"),
        "on_demand_usd": usd("training_seconds"),
        "jobs": len(jobs),
        "jobs_by_status": dict(sorted(Counter(j["status"] for j in jobs).items())),
        "training_seconds": sum(j["training_seconds"] or 0 for j in jobs),
        "billable_seconds": sum(j["billable_seconds"] or 0 for j in jobs),
        "spot_jobs": len(spot),
        "spot_savings_percent": 100 * (1 - spot_billable / spot_training) if spot_training else None,
    }


def serving_outcome(
    record: dict[str, Any] | None,
    *,
    deployment: dict[str, Any] | None = None,
    smoke: dict[str, Any] | None = None,
    not_deployed_because: str | None = None,
) -> Outcome:
    """What the run left serving, from its evaluation record as deploy and smoke_test last updated it.

    `deployment` and `smoke` are the deploy and smoke_test tasks' results (None when they did not run or
    failed); `not_deployed_because` is the deploy decision's reason when it chose not to deploy.
    """
    if record is None:
        return Outcome(
            NOT_EVALUATED,
            "Not evaluated: nothing was deployed.",
            "The evaluate task did not finish, so there is no decision; whatever served before this run still does.",
        )
    endpoint = record.get("endpoint") or (deployment or {}).get("endpoint") or "the endpoint"
    job = record.get("training_job_name")
    if record.get("rolled_back"):
        return Outcome(
            ROLLED_BACK,
            f"Rolled back: the challenger {job} failed its smoke test on {endpoint}; the model before it serves again.",
            f"Smoke test: {record.get('rollback_reason') or 'failed'}.",
        )
    if record.get("deployed"):
        checked = ""
        if smoke and smoke.get("score") is not None:
            checked = f" It passed the smoke test: {_words(record.get('metric'))} {fmt(smoke['score'])}"
            checked += f" on {fmt(smoke.get('rows'))} held-out rows." if smoke.get("rows") else "."
        return Outcome(DEPLOYED, f"Deployed: the challenger {job} now serves on {endpoint}.", checked.strip())
    if deployment is not None:
        return Outcome(
            UNVERIFIED,
            f"Deployed but not verified: the challenger {job} went to {endpoint}, the smoke test did not finish.",
            "The endpoint may serve the challenger untested and nothing was rolled back: see the smoke_test log.",
        )
    if record.get("winner") == "champion":
        champion = record.get("champion_training_job")
        who = f"the champion {champion}" if champion else "the champion"
        return Outcome(KEPT, f"Kept: {who} still serves; the challenger {job} did not beat it.", "")
    because = not_deployed_because or (
        "the deploy task did not complete (approval withheld, or the deployment failed: see its log)"
    )
    return Outcome(NOT_DEPLOYED, f"Not deployed: the challenger {job} won but was not deployed.", f"Why: {because}.")


# ------------------------------------------------------------------------------------------- formatting

# Metric and field names people read as acronyms.
_ACRONYMS = {"auc": "AUC", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "usd": "USD"}


def _words(name: Any) -> str:
    """A field name as words: `challenger_log_loss` → "challenger log loss", `auc` → "AUC"."""
    if name is None:
        return "–"
    return " ".join(_ACRONYMS.get(part, part) for part in re.split(r"[_\s]+", str(name)) if part)


def fmt(value: Any, digits: int = 4) -> str:
    """A value to read: floats to `digits` significant digits, whole numbers with thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 10**digits:
            return f"{int(value):,}"
        return f"{value:.{digits}g}"
    return str(value)


def fmt_hyperparameter(text: Any) -> str:
    """A hyperparameter value (a string in the API) to 3 significant digits if it is a number."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return str(text)
    if number.is_integer() and "e" not in str(text).lower():
        return f"{int(number)}"
    return f"{number:.3g}"


def _seconds(value: float | int | None) -> str:
    return "–" if value is None else f"{value:,.0f} s"


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown (instance type not in the price table)"
    return f"${value:,.2f}" if value >= 1 else f"${value:.2g}"


def _e(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else fmt(value))


def _key_value_table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<div class='scroll'><table class='kv'>{body}</table></div>"


# --------------------------------------------------------------------------------------------- the page

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;padding:1em;max-width:72em;line-height:1.4;color:#222}"
    "h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}"
    ".lead{font-size:1.15em;padding:.6em .8em;border-left:.4em solid #888;background:#f6f6f6}"
    ".deployed{border-color:#2a7}.rolled-back,.deployed-not-verified{border-color:#c33}.kept{border-color:#46a}"
    ".summary li{margin:.3em 0}.muted{color:#666}code{font-size:.95em}"
    ".scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;margin:.5em 0;font-size:.95em}"
    "th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:' ⇅';color:#aaa}"
    "tr.best td{background:#fff6d5}figure{margin:1em 0}img{max-width:100%;height:auto}"
    "figcaption{color:#555;font-size:.9em}"
    "@media (max-width:40em){body{padding:.6em}th,td{padding:.2em .35em}.lead{font-size:1em}}"
)
# Click a header to sort by it, again to reverse; numbers (data-v) sort as numbers, blanks last.
_SORT_JS = (
    "document.querySelectorAll('table.sortable').forEach(function(t){t.querySelectorAll('th').forEach("
    "function(th,i){th.addEventListener('click',function(){var b=t.tBodies[0],rows=[].slice.call(b.rows),"
    "asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';function key(r){var c=r.cells[i];"
    "return c.dataset.v!==undefined?c.dataset.v:c.textContent}rows.sort(function(p,q){var x=key(p),y=key(q),"
    "nx=parseFloat(x),ny=parseFloat(y);if(x===''||y===''){return (x==='')-(y==='')}"
    "var r=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;return asc?r:-r});"
    "rows.forEach(function(r){b.appendChild(r)})})})});"
)


def png_data_uri(png: bytes) -> str:
    """A PNG inside the page itself: a presigned link opens one object, so the page must need no other (the
    images beside it in a private bucket would not load)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def page(title: str, body: Iterable[str], script: bool = False) -> str:
    """A self-contained HTML page (no external assets) that reads at a phone's width."""
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
    )
    tail = f"<script>{_SORT_JS}</script></body></html>" if script else "</body></html>"
    return "\n".join([head, *body, tail])


def _hyperparameter_list(hyperparameters: dict[str, Any]) -> str:
    return ", ".join(
        f"<code>{html.escape(k)}</code> {html.escape(fmt_hyperparameter(v))}"
        for k, v in sorted(hyperparameters.items())
    )


def _spend_sentence(totals: dict[str, Any]) -> str:
    statuses = ", ".join(f"{count} {status.lower()}" for status, count in totals["jobs_by_status"].items())
    text = (
        f"{totals['jobs']} training jobs ({statuses or 'none'}) billed {_seconds(totals['billable_seconds'])}, "
        f"{_usd(totals['billable_usd'])} at {PRICES_AS_OF} on-demand prices"
    )
    if totals["spot_jobs"]:
        text += (
            f"; {totals['spot_jobs']} ran on managed spot: on demand they would have billed all "
            f"{_seconds(totals['training_seconds'])} trained ({_usd(totals['on_demand_usd'])}), "
            f"spot saved {fmt(totals['spot_savings_percent'], 3)} %"
        )
    else:
        text += f" (all on demand, {_seconds(totals['training_seconds'])} trained)"
    return html.escape(text) + "."


def _overfit_sentence(overfit: dict[str, Any], jobs: int) -> str:
    stopped = overfit["stopped"]
    if not stopped:
        return html.escape(f"on for this run; it stopped none of the {jobs} training jobs.")
    planned = sum(s["planned_rounds"] or 0 for s in stopped)
    ran = sum(s["rounds"] for s in stopped)
    text = f"stopped {len(stopped)} of {jobs} training jobs once their validation loss ran ahead of training"
    if planned:
        text += f"; they ran {ran} of their {planned} rounds, saving {overfit['rounds_saved']}"
    return html.escape(text) + "."


def _warm_start_sentence(tuning: dict[str, Any], parents: list[dict[str, Any]], best: float | None) -> str:
    child = tuning.get("objective_value")
    metric = tuning.get("objective_metric") or "objective"
    text = f"from {len(parents)} parent tuning job{'s' if len(parents) != 1 else ''}; "
    text += f"their best {metric} {fmt(best)}, this job's {fmt(child)}"
    if best is not None and child is not None:
        text += f" ({child - best:+.3g})"
    return html.escape(text) + "."


def _gain(evaluation: dict[str, Any]) -> str | None:
    """The paired comparison's gain and interval (include/pipeline/comparison.py), as the decision used it."""
    if evaluation.get("gain") is None:
        return None
    return (
        f"{evaluation['gain']:+.4f}, {evaluation['confidence'] * 100:g} % interval "
        f"[{evaluation['gain_low']:+.4f}, {evaluation['gain_high']:+.4f}] ({evaluation['comparison_method']}); "
        "the challenger wins when the lower end is above the margin"
    )


def _evaluation_rows(evaluation: dict[str, Any]) -> list[tuple[str, Any]]:
    metric = _words(evaluation.get("metric"))
    rows: list[tuple[str, Any]] = [
        ("Held-out day", evaluation.get("holdout_date")),
        ("Held-out rows", evaluation.get("rows")),
        (f"Challenger {metric}", evaluation.get("challenger_score")),
        (f"Champion {metric}", evaluation.get("champion_score")),
        ("Gain over the champion", _gain(evaluation)),
        ("Margin to beat", evaluation.get("margin")),
        ("Winner", evaluation.get("winner")),
        ("Champion's training job", evaluation.get("champion_training_job")),
        (
            "Run",
            f"{evaluation.get('dag_id')} {evaluation.get('run_id')} "
            f"({'live' if evaluation.get('live') else 'backfill'})",
        ),
    ]
    also = evaluation.get("challenger_metrics") or {}
    champion = evaluation.get("champion_metrics") or {}
    for name in sorted(set(also) - {evaluation.get("metric")}):
        rows.append((f"{_words(name)}: challenger / champion", f"{fmt(also.get(name))} / {fmt(champion.get(name))}"))
    known = {"metric", "direction", "challenger_score", "champion_score", "margin", "winner", "rows", "holdout_date"}
    known |= {"challenger_metrics", "champion_metrics", "champion_training_job", "dag_id", "run_id", "live", "reason"}
    known |= {"model", "evaluated_at", "tuning_job_name", "training_job_name", "model_artifact", "code_uri"}
    known |= {"champion_model_artifact", "champion_code_uri", "record_key", "deployed", "rolled_back", "positives"}
    known |= {"rollback_reason", "endpoint", "endpoint_config"}
    known |= {"gain", "gain_low", "gain_high", "confidence", "comparison_method"}
    rows += [(_words(k).capitalize(), v) for k, v in sorted(evaluation.items()) if k not in known]
    return [(label, value) for label, value in rows if value is not None]


JOB_HEAD = ("Job", "Status", "Training s", "Billable s", "Note")


def _jobs_table(jobs: list[dict[str, Any]], metric: str, maximize: bool, best_job: str | None) -> str:
    names = sorted({name for job in jobs for name in job["hyperparameters"]})
    # Best first, as SageMaker Studio lists them; jobs without an objective last, in launch order.
    scored = sorted((j for j in jobs if j["objective"] is not None), key=lambda j: j["objective"], reverse=maximize)
    ordered = scored + [j for j in jobs if j["objective"] is None]
    head = [JOB_HEAD[0], JOB_HEAD[1], metric, *names, *JOB_HEAD[2:]]
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    rows = []
    for job in ordered:

        def num(value: Any, text: str) -> str:
            return f"<td class='n' data-v='{'' if value is None else value}'>{html.escape(text)}</td>"

        cells = [
            f"<td>{html.escape(job['name'])}</td>",
            f"<td>{html.escape(job['status'])}{' (spot)' if job['spot'] else ''}</td>",
        ]
        cells.append(num(job["objective"], fmt(job["objective"])))
        for name in names:
            text = job["hyperparameters"].get(name)
            try:
                value: Any = float(text) if text is not None else None
            except ValueError:
                value = None
            cells.append(num(value, fmt_hyperparameter(text)) if value is not None else f"<td>{_e(text)}</td>")
        cells.append(num(job["training_seconds"], fmt(job["training_seconds"])))
        cells.append(num(job["billable_seconds"], fmt(job["billable_seconds"])))
        early = "stopped early" if job.get("stopped_early") else ""
        note = job.get("failure_reason") or job.get("stopped_by") or early
        cells.append(f"<td>{html.escape(note)}</td>")
        best = " class='best'" if job["name"] == best_job else ""
        rows.append(f"<tr{best}>{''.join(cells)}</tr>")
    return (
        f"<div class='scroll'><table class='sortable' id='jobs'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def build_report(
    tuning: dict[str, Any],
    jobs: list[dict[str, Any]],
    evaluation: dict[str, Any] | None = None,
    parents: list[dict[str, Any]] | None = None,
    *,
    outcome: Outcome | None = None,
    ranges: dict[str, dict[str, Any]] | None = None,
    champion_level: float | None = None,
    history_link: str | None = None,
    overfit: dict[str, Any] | None = None,
    plots: bool = True,
) -> Report:
    """The page, its plots and the totals: the decision and what serves now first, the details after.

    `evaluation` is the run's evaluation record; `outcome` what the run left serving (serving_outcome);
    `parents` (from collect_parents) adds the warm-start parents' best; `ranges` (collect_ranges) are the
    distributions the plots' study uses (without them each tuned value is drawn as a category);
    `champion_level` is the champion's objective in its own tuning job, marked on the plots; `history_link` is
    the model's history page, relative to this one; `overfit` what the stop_on_overfit rule did (the
    watch_overfit task's XCom). Jobs without an objective are in the table, not the plots.
    """
    from .report_study import build_study, render_plots

    if overfit:
        stopped = {s["job"]: s for s in overfit["stopped"]}
        jobs = [
            {**j, "stopped_by": f"stopped by the {overfit['rule']} rule at step {stopped[j['name']]['step']}"}
            if j["name"] in stopped
            else j
            for j in jobs
        ]

    maximize = tuning.get("objective_type", "Maximize") == "Maximize"
    metric = str(
        tuning.get("objective_metric")
        or next((j["objective_metric"] for j in jobs if j["objective_metric"]), None)
        or "objective"
    )
    totals = report_totals(jobs)
    if overfit:
        totals["overfit_stopped"] = len(overfit["stopped"])
        totals["rounds_saved"] = overfit["rounds_saved"]
    if parents:
        totals["parents_best"] = parents_best(parents, maximize)
    name = str(tuning.get("tuning_job_name", ""))
    model = (evaluation or {}).get("model")
    when = (evaluation or {}).get("holdout_date")

    title = " · ".join(str(x) for x in (model, f"held out {when}" if when else None) if x) or f"Tuning job {name}"
    state = outcome.state if outcome else None
    parts = [f"<h1>{html.escape(title)}{': ' + html.escape(state) if state else ''}</h1>"]
    if outcome:
        css = re.sub(r"[^a-z]+", "-", outcome.state).strip("-")
        parts.append(f"<p class='lead {css}' id='outcome'>{html.escape(outcome.headline)}</p>")
    summary = []
    if outcome and outcome.detail:
        summary.append(html.escape(outcome.detail))
    if evaluation and evaluation.get("reason"):
        summary.append(f"<b>Why</b>: {html.escape(str(evaluation['reason']))}.")
    best_job = tuning.get("best_training_job")
    if best_job:
        summary.append(
            f"<b>Best job</b> {html.escape(best_job)}: {html.escape(metric)} {_e(tuning.get('objective_value'))}"
            f" with {_hyperparameter_list(tuning.get('best_hyperparameters') or {}) or 'no tuned hyperparameters'}."
        )
    else:
        summary.append("<b>No best job</b>: no training job reported the objective.")
    summary.append(f"<b>Spend</b>: {_spend_sentence(totals)}")
    if overfit:
        summary.append(f"<b>{html.escape(overfit['rule'])} rule</b>: {_overfit_sentence(overfit, len(jobs))}")
    if parents:
        summary.append(f"<b>Warm start</b>: {_warm_start_sentence(tuning, parents, totals['parents_best'])}")
    parts.append("<ul class='summary'>" + "".join(f"<li>{s}</li>" for s in summary) + "</ul>")
    if history_link:
        parts.append(f"<p><a href='{html.escape(history_link)}'>This model's history across runs</a></p>")

    if evaluation:
        parts += [
            "<h2>Champion and challenger on the held-out day</h2>",
            _key_value_table(_evaluation_rows(evaluation)),
        ]

    images: dict[str, bytes] = {}
    parts.append("<h2>Tuning</h2>")
    rendered = []
    left_out: list[str] = []
    if plots and any(j["objective"] is not None for j in jobs):
        study_ranges = ranges or _categorical_ranges(jobs)
        study, left_out = build_study(jobs, study_ranges, maximize)
        champion = (evaluation or {}).get("champion_training_job")
        rendered = render_plots(study, metric, champion_level, f"champion {champion}" if champion else "champion")
    for plot in rendered:
        images[plot.file] = plot.png
        parts.append(
            f"<figure><img src='{png_data_uri(plot.png)}' alt='{html.escape(plot.title)}'>"
            f"<figcaption><b>{html.escape(plot.title)}</b>. {html.escape(plot.caption)}</figcaption></figure>"
        )
    if not rendered:
        parts.append("<p class='muted'>No training job reported an objective metric, so there is nothing to plot.</p>")
    if left_out:
        parts.append(
            "<p class='muted'>Not plotted, values outside the tuning job's ranges: "
            f"{html.escape(', '.join(left_out))}.</p>"
        )
    if parents:
        parts += [
            "<h3>Warm-start parents</h3>",
            _key_value_table(
                [(f"{p['name']} ({p['status']})", p["objective"]) for p in parents]
                + [("Parents' best", totals["parents_best"]), (f"{name} (this job)", tuning.get("objective_value"))]
            ),
        ]
    parts += [
        "<h2>Training jobs</h2><p class='muted'>Best first; click a column to sort by it.</p>",
        _jobs_table(jobs, metric, maximize, best_job),
        "<h2>Details</h2>",
        _key_value_table(
            [
                ("Tuning job", name),
                ("Strategy", tuning.get("strategy")),
                ("Status", tuning.get("status")),
                ("Objective", f"{'maximize' if maximize else 'minimize'} {metric}"),
                ("Created", tuning.get("created")),
                ("Ended", tuning.get("ended")),
                ("ARN", tuning.get("tuning_job_arn")),
                ("Best model artifact", tuning.get("best_model_artifact")),
                ("Training seconds", totals["training_seconds"]),
                ("Billable seconds", totals["billable_seconds"]),
                (
                    "Spot savings",
                    "no spot jobs"
                    if totals["spot_savings_percent"] is None
                    else f"{fmt(totals['spot_savings_percent'], 3)} %",
                ),
            ]
        ),
    ]
    return Report(
        html=page(f"{title}: {state or name}", parts, script=True),
        images=images,
        totals=totals,
        jobs=list(jobs),
        outcome=outcome.to_dict() if outcome else None,
    )


def _categorical_ranges(jobs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Ranges guessed from the values tried, when the tuning job's are not at hand: each one a category."""
    values: dict[str, set[str]] = {}
    for job in jobs:
        for name, value in job["hyperparameters"].items():
            values.setdefault(name, set()).add(str(value))
    return {name: {"Name": name, "Kind": "Categorical", "Values": sorted(v)} for name, v in values.items()}


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
    summary = json.dumps({"totals": report.totals, "outcome": report.outcome, "jobs": report.jobs}, indent=2)
    s3_client.put_object(Bucket=bucket, Key=key("summary.json"), Body=summary.encode(), ContentType="application/json")
    # The page last: once it exists, everything it links to does too.
    s3_client.put_object(
        Bucket=bucket, Key=key("index.html"), Body=report.html.encode(), ContentType="text/html; charset=utf-8"
    )
    url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key("index.html")}, ExpiresIn=expires_in
    )
    return {"report_uri": f"s3://{bucket}/{key('index.html')}", "report_url": url, "images": images}
