"""The decisions of one tuning job: what to run next, which running job to stop, when the tuning job is done.

No threads, no clock of its own, no I/O: the service's scheduler (runner/tuning.py) drives it with real training
jobs, and the search-quality benchmark drives the same code with simulated learning curves, so the benchmark's
figures measure the loop that ships. Each round its driver:

1. `observe`s the objective values each running job emitted so far (the strategy hears every new step, which is
   where Hyperband prunes; the median rule checks the curves): a returned reason means stop that job;
2. `finish`es the jobs that ended, with their final objective (or None when they failed);
3. asks `completion()`, and ends the tuning job when it answers;
4. otherwise `ask`s for up to `free_slots()` suggestions and `add`s a trial for each job it launches.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .models.tuning import Completion, Trial, TrialState, TuningJob, training_job_name
from .models.tuning_validation import MAX_TRAINING_JOBS, hyperband_max_resource
from .strategies import MedianStoppingRule, SearchSpace, Strategy, Suggestion, make_strategy

FAIL_FAST_JOBS = 3  # a tuning job whose first jobs all fail is failed, before it spends more
CONVERGENCE_MIN_JOBS = 10
CONVERGENCE_TOLERANCE = 1e-4
# BestObjectiveNotImproving counts "training jobs that have failed to improve model performance by 1% or greater
# over prior training jobs" (API reference, BestObjectiveNotImproving).
IMPROVEMENT = 0.01

# (parent tuning job, hyperparameters, objective) of a parent's evaluated jobs, by training job definition name.
ParentJobs = dict[str | None, list[tuple[str, dict[str, str], float]]]


class TuningLoop:
    def __init__(self, tuning: TuningJob, parents: ParentJobs | None = None) -> None:
        """Strategies for each training job definition, warm-started from `parents` and replaying the tuning
        job's own persisted trials (after a restart)."""
        self.tuning = tuning
        self.strategies: dict[str | None, Strategy] = {}
        parents = parents or {}
        config = tuning.config
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
                config.get("RandomSeed"),
                strategy_config,
            )
            own = [t for t in tuning.trials if t.definition == name]
            if transfer:
                # The data changed: the parents' objective values are on another scale (another day's AUC), and
                # mixing them into the model as they are would rank configurations by the day they ran on.
                # Instead each parent's best hyperparameters are the child's first jobs, at most half its
                # budget, and the Bayesian model re-levels each parent's jobs by what its best scored here.
                strategy.restore(own)
                limit = max(1, (tuning.max_jobs or MAX_TRAINING_JOBS) // 2)
                strategy.transfer(parents.get(name, []), limit, skip=len(own))
            else:
                strategy.seed_with([(h, v) for _, h, v in parents.get(name, [])])
                strategy.restore(own)
            self.strategies[name] = strategy
        auto = config.get("TrainingJobEarlyStoppingType") == "Auto"
        self.early_stopping = MedianStoppingRule(maximize=tuning.maximize) if auto else None

    # --- running jobs --------------------------------------------------------------------------
    def running(self) -> list[Trial]:
        return [t for t in self.tuning.trials if t.state is TrialState.RUNNING]

    def observe(self, trial: Trial, values: list[float], ended: bool = False) -> str | None:
        """Take the objective values a job emitted so far; why to stop it early, or None. A job that already
        `ended` has its last values heard, and nothing to stop."""
        strategy = self.strategies[trial.definition]
        stop = None
        for step in range(len(trial.curve) + 1, len(values) + 1):
            trial.curve.append(values[step - 1])
            if strategy.report(trial.trial, step, values[step - 1]) and not trial.early_stopped:
                stop = "Hyperband"
        if ended:
            return None
        max_resource = strategy.config.get("MaxResource") if self.tuning.strategy == "Hyperband" else None
        if stop is None and max_resource is not None and len(values) > max_resource and not trial.early_stopped:
            # "Once a job reaches the MaxResource value, it is stopped" (HyperbandStrategyConfig): one that emits
            # more steps than MaxResource is stopped at the first extra one; one of exactly MaxResource steps ends
            # by itself, with its model saved.
            stop = "Hyperband (MaxResource reached)"
        if stop is None and self.early_stopping is not None and not trial.early_stopped:
            curves = {t.job: t.curve for t in self.tuning.trials}
            if self.early_stopping.should_stop(trial.job, curves):
                stop = "early stopping (median rule)"
        if stop is not None:
            trial.early_stopped = True
        return stop

    def finish(self, trial: Trial, objective: float | None, error: str | None = None) -> None:
        """A job ended: tell its strategy the final objective (None: it failed or emitted none)."""
        best = self.tuning.best_trial()
        self.strategies[trial.definition].tell(trial.trial, objective)
        trial.state, trial.objective = TrialState.FINISHED, objective
        if error is not None:
            trial.error = error
        if objective is not None:
            improved = best is None or (
                self.tuning.better(objective, best.value)
                and abs(objective - best.value) >= IMPROVEMENT * abs(best.value)
            )
            self.tuning.not_improving = 0 if improved else self.tuning.not_improving + 1

    # --- the end -------------------------------------------------------------------------------
    def completion(self) -> Completion | None:
        """How the tuning job ends now, or None while it goes on. Its driver stops the running jobs, and ends
        the tuning job once none runs (a stop request ends it Stopped whatever the reason)."""
        tuning = self.tuning
        if tuning.stop_requested:
            return Completion("Stopped")
        trials = tuning.trials
        evaluated = [t.value for t in trials if t.evaluated]
        needed = min(FAIL_FAST_JOBS, tuning.max_jobs or FAIL_FAST_JOBS)
        first = trials[:needed]
        if len(first) == needed and all(t.finished and t.objective is None for t in first):
            detail = first[-1].error or "no objective metric was emitted"
            return Completion("Failed", f"the first {needed} training jobs failed; the last one: {detail}")
        criteria = tuning.config.get("TuningJobCompletionCriteria") or {}
        best = tuning.best_trial()
        target = criteria.get("TargetObjectiveMetricValue")
        if target is not None and best is not None and not tuning.better(target, best.value):
            return Completion("Completed", "TargetObjectiveMetricValue reached")
        patience = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        if patience is not None and tuning.not_improving >= patience:
            return Completion("Completed", "BestObjectiveNotImproving")
        convergence = (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled"
        if convergence and self._converged(evaluated):
            return Completion("Completed", "ConvergenceDetected")
        max_runtime = tuning.config["ResourceLimits"].get("MaxRuntimeInSeconds")
        if max_runtime is not None and tuning.runtime_seconds >= max_runtime:
            return Completion("Completed", "MaxRuntimeInSeconds reached")
        if self._budget_spent() and not self.running():
            if not evaluated:
                return Completion("Failed", "all training jobs failed or emitted no objective metric")
            return Completion("Completed", "MaxNumberOfTrainingJobs reached")
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

    # --- new jobs ------------------------------------------------------------------------------
    def _budget(self) -> int:
        return self.tuning.max_jobs or MAX_TRAINING_JOBS

    def _budget_spent(self) -> bool:
        if self.tuning.strategy == "Grid" and all(s.exhausted for s in self.strategies.values()):
            return True
        return len(self.tuning.trials) >= self._budget()

    def free_slots(self) -> int:
        if self._budget_spent():
            return 0
        running = len(self.running())
        return max(0, min(self.tuning.max_parallel - running, self._budget() - len(self.tuning.trials)))

    def ask(self, slots: int) -> list[tuple[str | None, Suggestion]]:
        """Up to `slots` suggestions, each from the training job definition with the fewest trials so far.
        Only asks: a suggestion that is not `add`ed is never run (a stop request may win meanwhile)."""
        counts = {name: sum(1 for t in self.tuning.trials if t.definition == name) for name in self.strategies}
        asked: list[tuple[str | None, Suggestion]] = []
        for _ in range(slots):
            name = min(counts, key=lambda n: counts[n])
            suggestion = self.strategies[name].suggest()
            if suggestion is None:
                break
            asked.append((name, suggestion))
            counts[name] += 1
        return asked

    def add(self, definition: str | None, suggestion: Suggestion) -> Trial:
        """The trial of a job about to be launched, with the training job name AWS would give it."""
        tuning = self.tuning
        trial = Trial(
            trial=suggestion.trial,
            job=training_job_name(tuning.name, len(tuning.trials) + 1),
            hyperparameters=suggestion.hyperparameters,
            definition=definition,
        )
        tuning.trials.append(trial)
        return trial
