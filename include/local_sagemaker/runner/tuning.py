"""The tuning scheduler: one thread per tuning job, asking its strategy and launching training jobs.

Every `poll` seconds it reads the objective curves of the running jobs (stopping those that the early
stopping rule or Hyperband gives up on), tells the strategy the final objective of finished jobs, checks the
completion criteria, and launches new training jobs while fewer than MaxParallelTrainingJobs run. Each trial
is persisted before its training job is created, so after a restart the scheduler rebuilds its strategy from
the stored trials and carries on without repeating or losing a job.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from ..exceptions import SageMakerError
from ..models.backend import SageMakerBackend
from ..models.tuning import TuningJob, training_job_name
from ..models.tuning_validation import MAX_TRAINING_JOBS, hyperband_max_resource
from ..strategies import MedianStoppingRule, SearchSpace, Strategy, Suggestion, make_strategy

log = logging.getLogger(__name__)

FAIL_FAST_JOBS = 3  # a tuning job whose first jobs all fail is failed, before it spends more
CONVERGENCE_MIN_JOBS = 10
CONVERGENCE_TOLERANCE = 1e-4


class TuningScheduler:
    def __init__(self, backend: SageMakerBackend, tuning: TuningJob, poll: float = 0.2) -> None:
        self.backend = backend
        self.tuning = tuning
        self.poll = poll
        self.strategies: dict[str | None, Strategy] = {}
        self.early_stopping: MedianStoppingRule | None = None

    def start(self) -> None:
        threading.Thread(target=self.run, name=f"tuning-{self.tuning.name}", daemon=True).start()

    def run(self) -> None:
        try:
            self._setup()
            while not self._step():
                time.sleep(self.poll)
        except Exception as exc:  # a bug here must not leave a tuning job InProgress forever
            log.exception("tuning job %s crashed its scheduler", self.tuning.name)
            with self.backend.lock:
                self._stop_running()
                self._end("Failed", f"InternalServerError: {exc}")

    # --- setup ---------------------------------------------------------------------------------
    def _setup(self) -> None:
        tuning = self.tuning
        config = tuning.config
        seed = config.get("RandomSeed")
        evaluated = self._parents_evaluated()
        transfer = (tuning.spec.get("WarmStartConfig") or {}).get("WarmStartType") == "TransferLearning"
        for definition in tuning.definitions:
            name = definition.get("DefinitionName")
            strategy_config = dict((config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {})
            if tuning.strategy == "Hyperband":
                strategy_config["MaxResource"] = hyperband_max_resource(
                    config, definition.get("StaticHyperParameters") or {}
                )
            strategy = make_strategy(
                tuning.strategy,
                SearchSpace.from_ranges(tuning.ranges(definition)),
                tuning.maximize,
                seed,
                strategy_config,
            )
            own = [t for t in tuning.trials if t.get("definition") == name]
            if transfer:
                # The data changed: the parents' objective values are on another scale (another day's AUC), and
                # mixing them into the model as they are would rank configurations by the day they ran on.
                # Instead each parent's best hyperparameters are the child's first jobs, at most half its
                # budget, and the Bayesian model re-levels each parent's jobs by what its best scored here.
                strategy.restore(own)
                limit = max(1, (tuning.max_jobs or MAX_TRAINING_JOBS) // 2)
                strategy.transfer(evaluated.get(name, []), limit, skip=len(own))
            else:
                strategy.seed_with([(h, v) for _, h, v in evaluated.get(name, [])])
                strategy.restore(own)
            self.strategies[name] = strategy
        if config.get("TrainingJobEarlyStoppingType") == "Auto":
            self.early_stopping = MedianStoppingRule(maximize=tuning.maximize)

    def _parents_evaluated(self) -> dict[str | None, list[tuple[str, dict[str, str], float]]]:
        """(parent, hyperparameters, objective) of the parents' finished jobs, by training job definition."""
        warm = self.tuning.spec.get("WarmStartConfig")
        out: dict[str | None, list[tuple[str, dict[str, str], float]]] = {}
        if not warm:
            return out
        with self.backend.lock:
            for ref in warm["ParentHyperParameterTuningJobs"]:
                parent = self.backend.tuning_jobs.get(ref["HyperParameterTuningJobName"])
                for trial in parent.trials if parent else []:
                    if trial["state"] == "finished" and trial.get("objective") is not None:
                        out.setdefault(trial.get("definition"), []).append(
                            (ref["HyperParameterTuningJobName"], trial["hyperparameters"], trial["objective"])
                        )
        return out

    # --- one round -----------------------------------------------------------------------------
    def _step(self) -> bool:
        """Advance the tuning job; True once it has ended."""
        with self.backend.lock:
            tuning = self.tuning
            if tuning.terminal:
                return True
            self._collect()
            tuning.runtime_seconds = int((datetime.now(UTC) - tuning.created).total_seconds())
            running = self._running()
            reason = self._completion_reason()
            if reason is not None:
                self._stop_running()
                if not running:
                    status = (
                        "Stopped"
                        if tuning.stop_requested
                        else ("Failed" if reason.startswith("Failed") else "Completed")
                    )
                    self._end(status, reason.removeprefix("Failed: ") if status == "Failed" else None)
                    return True
            slots = 0 if reason is not None else self._free_slots(len(running))
            tuning.modified = datetime.now(UTC)
            self.backend.save(tuning)
        if slots:
            # Asked outside the lock: a model-based ask can take a second, and Describe/List calls must not wait
            # for it. Only this thread touches the strategies. A stop that arrives meanwhile wins: the asked
            # trials are never persisted or launched, and the tuning job ends at the next step.
            asked = self._ask(slots)
            with self.backend.lock:
                if asked and not (self.tuning.terminal or self.tuning.stop_requested):
                    self._launch(asked)
                    self.backend.save(self.tuning)
        return False

    def _running(self) -> list[dict[str, Any]]:
        return [t for t in self.tuning.trials if t["state"] == "running"]

    def _collect(self) -> None:
        tuning = self.tuning
        jobs = self.backend.training_jobs
        curves = {t["job"]: t.setdefault("curve", []) for t in tuning.trials}
        for trial in self._running():
            job = jobs.get(trial["job"])
            if job is None:  # persisted, then the service stopped before the job was created
                self._create(trial)
                continue
            metric = tuning.objective()["MetricName"]
            values = [value for _, value in job.metrics.get(metric, [])]
            strategy = self.strategies[trial.get("definition")]
            for step in range(len(trial["curve"]) + 1, len(values) + 1):
                trial["curve"].append(values[step - 1])
                if strategy.report(trial["trial"], step, values[step - 1]) and not job.terminal:
                    self._stop_early(trial, job, "Hyperband")
            if self.early_stopping and not job.terminal and not trial.get("early_stopped"):
                if self.early_stopping.should_stop(trial["job"], curves):
                    self._stop_early(trial, job, "early stopping (median rule)")
            if job.terminal:
                objective = values[-1] if values and job.status != "Failed" else None
                best = tuning.best_trial()
                strategy.tell(trial["trial"], objective)
                trial["state"] = "finished"
                trial["objective"] = objective
                if objective is not None:
                    improved = best is None or tuning.better(objective, best["objective"])
                    tuning.not_improving = 0 if improved else tuning.not_improving + 1

    def _stop_early(self, trial: dict[str, Any], job: Any, why: str) -> None:
        trial["early_stopped"] = True
        if job.status == "InProgress":
            self.backend.request_stop(job, f"Training job stopped by the tuning job's {why}")

    def _completion_reason(self) -> str | None:
        tuning = self.tuning
        if tuning.stop_requested:
            return "Stopped"
        finished = [t for t in tuning.trials if t["state"] == "finished"]
        evaluated = [t["objective"] for t in finished if t.get("objective") is not None]
        needed = min(FAIL_FAST_JOBS, tuning.max_jobs or FAIL_FAST_JOBS)
        first = tuning.trials[:needed]
        if len(first) == needed and all(t["state"] == "finished" and t.get("objective") is None for t in first):
            last = self.backend.training_jobs.get(first[-1]["job"])
            detail = (last.failure_reason if last else first[-1].get("error")) or "no objective metric was emitted"
            return f"Failed: the first {needed} training jobs failed; the last one: {detail}"
        criteria = tuning.config.get("TuningJobCompletionCriteria") or {}
        best = tuning.best_trial()
        target = criteria.get("TargetObjectiveMetricValue")
        if target is not None and best is not None and not tuning.better(target, best["objective"]):
            return "TargetObjectiveMetricValue reached"
        patience = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        if patience is not None and tuning.not_improving >= patience:
            return "BestObjectiveNotImproving"
        if (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled" and self._converged(
            evaluated
        ):
            return "ConvergenceDetected"
        max_runtime = tuning.config["ResourceLimits"].get("MaxRuntimeInSeconds")
        if max_runtime is not None and tuning.runtime_seconds >= max_runtime:
            return "MaxRuntimeInSeconds reached"
        if self._budget_spent() and not self._running():
            if not evaluated:
                return "Failed: all training jobs failed or emitted no objective metric"
            return "MaxNumberOfTrainingJobs reached"
        return None

    def _converged(self, evaluated: list[float]) -> bool:
        """No relative improvement of the best above CONVERGENCE_TOLERANCE over the last fifth of the jobs."""
        if len(evaluated) < CONVERGENCE_MIN_JOBS:
            return False
        window = max(5, len(evaluated) // 5)
        pick = max if self.tuning.maximize else min
        before, overall = pick(evaluated[:-window]), pick(evaluated)
        improved = abs(overall - before) > CONVERGENCE_TOLERANCE * max(abs(before), 1e-12)
        if not improved and self.tuning.converged_at is None:
            self.tuning.converged_at = datetime.now(UTC)
        return not improved

    def _budget_spent(self) -> bool:
        if all(s.exhausted for s in self.strategies.values()) and self.tuning.strategy == "Grid":
            return True
        return len(self.tuning.trials) >= (self.tuning.max_jobs or MAX_TRAINING_JOBS)

    def _free_slots(self, running: int) -> int:
        tuning = self.tuning
        if self._budget_spent():
            return 0
        return max(0, min(tuning.max_parallel - running, (tuning.max_jobs or MAX_TRAINING_JOBS) - len(tuning.trials)))

    def _ask(self, slots: int) -> list[tuple[str | None, Suggestion]]:
        """Up to `slots` suggestions, each from the training job definition with the fewest trials so far."""
        counts = {name: sum(1 for t in self.tuning.trials if t.get("definition") == name) for name in self.strategies}
        asked: list[tuple[str | None, Suggestion]] = []
        for _ in range(slots):
            name = min(counts, key=lambda n: counts[n])
            suggestion = self.strategies[name].suggest()
            if suggestion is None:
                break
            asked.append((name, suggestion))
            counts[name] += 1
        return asked

    def _launch(self, asked: list[tuple[str | None, Suggestion]]) -> None:
        tuning = self.tuning
        for name, suggestion in asked:
            trial = {
                "trial": suggestion.trial,
                "definition": name,
                "job": training_job_name(tuning.name, len(tuning.trials) + 1),
                "hyperparameters": suggestion.hyperparameters,
                "state": "running",
                "curve": [],
            }
            tuning.trials.append(trial)
            self.backend.save(tuning)  # persisted before the job exists: a restart creates it, never twice
            self._create(trial)

    def _create(self, trial: dict[str, Any]) -> None:
        try:
            self.backend.create_training_job(self.tuning.training_request(trial), tuning_job_arn=self.tuning.arn)
        except SageMakerError as exc:
            # Counted as a failed job without an objective; the tuning job goes on, as AWS's does.
            log.warning("tuning job %s could not create %s: %s", self.tuning.name, trial["job"], exc.message)
            self.strategies[trial.get("definition")].tell(trial["trial"], None)
            trial.update(state="finished", objective=None, error=f"{exc.code}: {exc.message}")

    def _stop_running(self) -> None:
        for trial in self._running():
            job = self.backend.training_jobs.get(trial["job"])
            if job is not None and job.status == "InProgress":
                self.backend.request_stop(job, "Training job stopped because its tuning job ended")

    def _end(self, status: str, reason: str | None) -> None:
        tuning = self.tuning
        tuning.status = status
        tuning.failure_reason = reason
        tuning.ended = tuning.modified = datetime.now(UTC)
        tuning.runtime_seconds = int((tuning.ended - tuning.created).total_seconds())
        self.backend.save(tuning)
