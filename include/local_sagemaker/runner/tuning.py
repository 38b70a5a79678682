"""The tuning scheduler: one thread per tuning job, driving its TuningLoop with real training jobs.

Every `poll` seconds it hands the loop the objective curves of the running jobs (stopping those that the early
stopping rule or Hyperband gives up on) and the final objective of finished ones, ends the tuning job when the
loop says so, and launches new training jobs for the loop's free slots. Each trial is persisted before its
training job is created, so after a restart the loop is rebuilt from the stored trials and carries on without
repeating or losing a job.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from ..exceptions import SageMakerError
from ..models.backend import SageMakerBackend
from ..models.training import TrainingJob
from ..models.tuning import Completion, Trial, TuningJob
from ..strategies import Suggestion
from ..tuning_loop import ParentJobs, TuningLoop

log = logging.getLogger(__name__)


class TuningScheduler:
    def __init__(self, backend: SageMakerBackend, tuning: TuningJob, poll: float = 0.2) -> None:
        self.backend = backend
        self.tuning = tuning
        self.poll = poll
        self.loop: TuningLoop | None = None

    def start(self) -> None:
        threading.Thread(target=self.run, name=f"tuning-{self.tuning.name}", daemon=True).start()

    def run(self) -> None:
        try:
            while not self.step():
                time.sleep(self.poll)
        except Exception as exc:  # a bug here must not leave a tuning job InProgress forever
            log.exception("tuning job %s crashed its scheduler", self.tuning.name)
            with self.backend.lock:
                self._stop_running()
                self._end(Completion("Failed", f"InternalServerError: {exc}"))

    def _parent_jobs(self) -> ParentJobs:
        warm = self.tuning.spec.get("WarmStartConfig")
        out: ParentJobs = {}
        if not warm:
            return out
        with self.backend.lock:
            for ref in warm["ParentHyperParameterTuningJobs"]:
                parent = self.backend.tuning_jobs.get(ref["HyperParameterTuningJobName"])
                for trial in parent.trials if parent else []:
                    if trial.evaluated:
                        out.setdefault(trial.definition, []).append(
                            (ref["HyperParameterTuningJobName"], trial.hyperparameters, trial.value)
                        )
        return out

    # --- one round -----------------------------------------------------------------------------
    def step(self) -> bool:
        """Advance the tuning job by one round; True once it has ended."""
        if self.loop is None:  # built here, in the scheduler's thread: replaying many trials takes a while
            self.loop = TuningLoop(self.tuning, self._parent_jobs())
        loop = self.loop
        with self.backend.lock:
            tuning = self.tuning
            if tuning.terminal:
                return True
            self._collect(loop)
            tuning.runtime_seconds = int((datetime.now(UTC) - tuning.created).total_seconds())
            completion = loop.completion()
            if completion is not None:
                self._stop_running()
                if not loop.running():
                    self._end(completion)
                    return True
            slots = 0 if completion is not None else loop.free_slots()
            tuning.modified = datetime.now(UTC)
            self.backend.save(tuning)
        if slots:
            # Asked outside the lock: a model-based ask can take a second, and Describe/List calls must not wait
            # for it. Only this thread touches the loop's strategies. A stop that arrives meanwhile wins: the
            # asked trials are never persisted or launched, and the tuning job ends at the next step.
            asked = loop.ask(slots)
            with self.backend.lock:
                if asked and not (self.tuning.terminal or self.tuning.stop_requested):
                    self._launch(loop, asked)
                    self.backend.save(self.tuning)
        return False

    def _collect(self, loop: TuningLoop) -> None:
        for trial in loop.running():
            job = self.backend.training_jobs.get(trial.job)
            if job is None:  # persisted, then the service stopped before the job was created
                self._create(loop, trial)
                continue
            # Each training job definition has its own objective metric (multi-algorithm tuning).
            metric = self.tuning.objective(self.tuning.definition(trial.definition))["MetricName"]
            values = job.metrics[metric].values() if metric in job.metrics else []
            why = loop.observe(trial, values, ended=job.terminal)
            if why is not None and job.status == "InProgress":
                self.backend.request_stop(job, f"Training job stopped by the tuning job's {why}")
            if job.terminal:
                failed = job.status == "Failed"
                objective = values[-1] if values and not failed else None
                loop.finish(trial, objective, error=job.failure_reason if failed else None)

    def _launch(self, loop: TuningLoop, asked: list[tuple[str | None, Suggestion]]) -> None:
        for definition, suggestion in asked:
            trial = loop.add(definition, suggestion)
            self.backend.save(self.tuning)  # persisted before the job exists: a restart creates it, never twice
            self._create(loop, trial)

    def _create(self, loop: TuningLoop, trial: Trial) -> None:
        try:
            self.backend.create_training_job(self.tuning.training_request(trial), tuning_job_arn=self.tuning.arn)
        except SageMakerError as exc:
            # Counted as a failed job without an objective; the tuning job goes on, as AWS's does.
            log.warning("tuning job %s could not create %s: %s", self.tuning.name, trial.job, exc.message)
            loop.finish(trial, None, error=f"{exc.code}: {exc.message}")

    def _stop_running(self) -> None:
        for trial in self.tuning.trials:
            job: TrainingJob | None = self.backend.training_jobs.get(trial.job)
            if not trial.finished and job is not None and job.status == "InProgress":
                self.backend.request_stop(job, "Training job stopped because its tuning job ended")

    def _end(self, completion: Completion) -> None:
        tuning = self.tuning
        # A stop request ends the tuning job Stopped, whatever else was reached meanwhile.
        tuning.status = "Stopped" if tuning.stop_requested else completion.status
        tuning.failure_reason = completion.reason if tuning.status == "Failed" else None
        tuning.ended = tuning.modified = datetime.now(UTC)
        tuning.runtime_seconds = int((tuning.ended - tuning.created).total_seconds())
        self.backend.save(tuning)
