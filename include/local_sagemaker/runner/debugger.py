"""A training job's Debugger rules at work: fed each metric value the runner parses, they update
DebugRuleEvaluationStatuses and run their StopTraining action.

On AWS each rule is a processing job reading the tensors the hook saves; here it is an evaluator
(runner/rules.py) reading the job's metrics (the mapping is in models/debugger.py). A rule that fires is
IssuesFound and evaluates no further, as the rule container exits on its first condition met. Its
StopTraining action does what smdebug's StopTrainingAction does: it lists the InProgress training jobs whose
name starts with the (lower-cased) prefix and stops the job only if there is exactly one
(https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-built-in-actions.html).
"""

from __future__ import annotations

import logging

from ..models.backend import SageMakerBackend
from ..models.debugger import plans
from ..models.training import TrainingJob
from .rules import Evaluator, evaluator

log = logging.getLogger(__name__)


class DebuggerRules:
    def __init__(self, backend: SageMakerBackend, job: TrainingJob) -> None:
        self.backend = backend
        self.job = job
        with backend.lock:
            self.plans = {plan.name: plan for plan in plans(job.spec, backend.region)}
            self.evaluators: dict[str, Evaluator] = {
                name: evaluator(plan) for name, plan in self.plans.items() if job.rule_in_progress(name)
            }
            # A job resumed after a restart (or a spot interruption) keeps the values it emitted: the rules read
            # them again, as a rule job would re-read the saved tensors.
            for metric, series in job.metrics.items():
                for value in series.values():
                    self.observe(metric, value)

    def observe(self, metric: str, value: float) -> None:
        """Feed one parsed value to every rule still evaluating. Call with the backend's lock held."""
        for name, rule in list(self.evaluators.items()):
            plan = self.plans[name]
            try:
                step = rule.observe(metric, value)
            except Exception as exc:  # a bug in a rule must not take the job down with it
                log.exception("rule %s of %s failed", name, self.job.name)
                del self.evaluators[name]
                self.job.rule_error(name, f"InternalServerError: {exc}")
                self.backend.save(self.job)
                continue
            if step is None:
                continue
            del self.evaluators[name]
            self.job.rule_issue_found(name, plan.rule, step)
            self.backend.save(self.job)
            if plan.stop_prefix is not None:
                self._stop(plan.stop_prefix, name)

    def _stop(self, prefix: str, rule: str) -> None:
        matching = [
            job
            for job in self.backend.training_jobs.values()
            if job.status == "InProgress" and job.name.startswith(prefix)
        ]
        if len(matching) != 1:
            log.info(
                "rule %s of %s: StopTraining found %d InProgress jobs named %s*, stops none",
                rule,
                self.job.name,
                len(matching),
                prefix,
            )
            return
        self.backend.request_stop(matching[0], "Stopping the training job")
