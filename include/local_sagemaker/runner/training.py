"""Run one training job as SageMaker would: download, train in a subprocess, upload, report.

One thread per job supervises one subprocess at a time. It enforces MaxRuntimeInSeconds and
StopTrainingJob (SIGTERM, a grace period, then SIGKILL), simulates managed spot interruptions (restarting
from the checkpoints synced to CheckpointConfig.S3Uri), streams the log to CloudWatch Logs and turns log
lines into metrics with the job's MetricDefinitions.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.archives import UnsafeArchive, make_tar_gz, safe_extract

from ..algorithms import SUPPORTED_IMAGES, is_builtin_xgboost, metric_definitions, runs_script
from ..models.backend import SageMakerBackend
from ..models.training import TrainingJob
from ..s3io import ChannelError, CheckpointSync, download_file, download_prefix, upload_file
from .cloudwatch_metrics import MetricPublisher
from .debugger import DebuggerRules
from .layout import JobLayout, base_environment, interpreter_shims
from .logs import TRAINING_LOG_GROUP, LogShipper
from .metrics import MetricParser
from .prefork import Process, Zygote, forkable, prefork_enabled, start_fresh

log = logging.getLogger(__name__)

BUILTIN_XGBOOST = Path(__file__).with_name("builtin_xgboost.py")
OPT_ML = "/opt/ml"
SAFE_PATH = re.compile(r"[\w./-]+")
# AWS gives a stopped algorithm 120 s after SIGTERM; locally a few seconds keeps tests and demos quick.
STOP_GRACE_SECONDS = float(os.environ.get("LOCAL_SAGEMAKER_STOP_GRACE_SECONDS", "5"))
CHECKPOINT_SYNC_SECONDS = 2.0


@dataclass(frozen=True)
class SpotSettings:
    """Simulated managed spot capacity. Interruptions are drawn per attempt from a seeded RNG."""

    interruption_rate: float = 0.0
    seed: int = 0
    # Billable seconds = seconds on spot capacity × this ratio; AWS reports savings this way
    # (savings = 1 - BillableTimeInSeconds / TrainingTimeInSeconds).
    price_ratio: float = 0.3
    restart_delay_seconds: float = 1.0
    # An interrupted attempt is cut after this many seconds of training (uniform in the window).
    interruption_window: tuple[float, float] = (1.0, 3.0)

    def interruption_after(self, job_name: str, attempt: int) -> float | None:
        rng = random.Random(zlib.crc32(f"{self.seed}:{job_name}:{attempt}".encode()))
        if rng.random() >= self.interruption_rate:
            return None
        return rng.uniform(*self.interruption_window)


class JobFailed(Exception):
    """Ends the job as Failed; the message becomes FailureReason."""


class TrainingRunner:
    def __init__(
        self,
        jobs_dir: Path,
        endpoint_url: str,
        spot: SpotSettings,
        clients: Callable[[str, str], Any],
    ) -> None:
        self.jobs_dir = jobs_dir
        self.endpoint_url = endpoint_url
        self.spot = spot
        self.clients = clients  # (service, region) -> boto3 client for this gateway
        self.bin_dir = interpreter_shims(jobs_dir / "bin")
        self._threads: dict[str, threading.Thread] = {}
        startup = {k: v for k, v in base_environment("", endpoint_url).items() if not k.startswith("AWS_")}
        self._zygote = Zygote(jobs_dir, startup)

    def launch(self, argv: list[str], cwd: Path, env: dict[str, str], spec: dict[str, Any]) -> Process:
        """The job's program, running: forked from the zygote when that behaves the same, else exec'd."""
        if prefork_enabled() and forkable(argv, spec):
            forked = self._zygote.spawn(argv, cwd, env)
            if forked is not None:
                return forked
        return start_fresh(argv, cwd, env)

    def start(self, backend: SageMakerBackend, job: TrainingJob) -> None:
        execution = JobExecution(self, backend, job)
        thread = threading.Thread(target=execution.run, name=f"training-{job.name}", daemon=True)
        self._threads[f"{backend.region}/{job.name}"] = thread
        thread.start()

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))


class JobExecution:
    def __init__(self, runner: TrainingRunner, backend: SageMakerBackend, job: TrainingJob) -> None:
        self.runner = runner
        self.backend = backend
        self.job = job
        self.spec = job.spec
        self.layout = JobLayout(runner.jobs_dir / backend.region / job.name / "opt" / "ml")
        self.s3 = runner.clients("s3", backend.region)
        stream = f"{job.name}/algo-1-{int(job.created.timestamp())}"
        self.shipper = LogShipper(runner.clients("logs", backend.region), TRAINING_LOG_GROUP, stream)
        self.parser = MetricParser(metric_definitions(self.spec["AlgorithmSpecification"], self._hyperparameters()))
        self.metrics = MetricPublisher(runner.clients("cloudwatch", backend.region), job.name)
        self.rules = DebuggerRules(backend, job)
        self._log_file: Any = None
        self._dirty = False

    # --- lifecycle -----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._run_once():
                pass
        finally:
            try:
                self.shipper.flush()
            except Exception:
                log.exception("could not ship the last log lines of %s", self.job.name)
            if self._log_file:
                self._log_file.close()

    def _run_once(self) -> bool:
        """One go at the job; False when an internal error restarts it (RetryStrategy)."""
        try:
            self._run()
        except JobFailed as exc:
            self._finish("Failed", "Failed", "Training job failed", reason=str(exc))
        except Exception as exc:  # a bug here must not leave a job InProgress forever
            log.exception("training job %s crashed the runner", self.job.name)
            if self.job.may_retry() and not self.job.stop_requested:
                self.job.retries += 1
                limit = self.spec["RetryStrategy"]["MaximumRetryAttempts"]
                self._update("Restarting", f"Retrying after an internal error (retry {self.job.retries} of {limit})")
                return False
            reason = f"InternalServerError: {exc}"
            self._finish("Failed", "Failed", "Training job failed", reason=reason, retryable=True)
        return True

    def _run(self) -> None:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        if self._log_file is None:  # a retry appends to the same log
            self._log_file = open(self.layout.log_file, "a", encoding="utf-8")  # noqa: SIM115 - closed in run()
        mode = self._mode()  # an image we cannot run fails here, before anything is downloaded
        self._update("Downloading", "Downloading input data")
        self.layout.prepare(self.spec)
        self._download_channels()
        if self.job.stop_requested:
            return self._finish("Stopped", "Stopped", "Training job stopped before it started")
        argv, cwd = self._program(mode)
        checkpoints = self._checkpoint_sync()
        if checkpoints:
            restored = checkpoints.restore()
            if restored:
                self._line(f"Restored {restored} checkpoint file(s) from {self.spec['CheckpointConfig']['S3Uri']}")
        self._update("Training", "Training image download completed. Training in progress.")
        started = time.monotonic()
        compute_seconds = 0.0
        while True:
            self.job.attempts += 1
            attempt_started = time.monotonic()
            outcome, code = self._attempt(argv, cwd, checkpoints, compute_seconds)
            compute_seconds += time.monotonic() - attempt_started
            if outcome == "interrupted":
                self._update("Interrupted", "Training interrupted: the spot capacity was reclaimed.")
                time.sleep(self.runner.spot.restart_delay_seconds)
                if self._max_wait_exceeded():
                    outcome = "max_wait"
            if outcome == "max_wait":
                self._account(started, compute_seconds)
                return self._finish(
                    "Failed",
                    "MaxWaitTimeExceeded",
                    "Training job exceeded MaxWaitTimeInSeconds",
                    reason="Training job exceeded MaxWaitTimeInSeconds provided",
                )
            if outcome != "interrupted":
                break
            if self.job.stop_requested:
                outcome, code = "stopped", None
                break
            self._update("Restarting", "Restarting the training job on new spot capacity")
            self.layout.prepare(self.spec)
            self._download_channels()
            if checkpoints:
                checkpoints.restore()
            self._update("Training", "Training in progress.")
        if checkpoints:
            checkpoints.push()
        self._account(started, compute_seconds)
        if outcome == "exited" and code == 0:
            self._upload("Uploading generated training model")
            return self._finish("Completed", "Completed", "Training job completed")
        if outcome == "stopped":
            self._upload("Uploading the model saved before the job stopped")
            return self._finish("Stopped", "Stopped", "Training job stopped")
        if outcome == "max_runtime":
            self._upload("Uploading the model saved before the runtime limit")
            return self._finish("Stopped", "MaxRuntimeExceeded", "Training job exceeded MaxRuntimeInSeconds")
        raise JobFailed(self._algorithm_error(code))

    # --- steps ---------------------------------------------------------------------------------
    def _is_builtin_xgboost(self) -> bool:
        # The algorithm runs when nothing else is asked for: no script, no entry point of the caller's own.
        algo = self.spec["AlgorithmSpecification"]
        return is_builtin_xgboost(
            algo.get("TrainingImage") or "", self._hyperparameters(), algo.get("ContainerEntrypoint")
        )

    def _hyperparameters(self) -> dict[str, str]:
        return dict(self.spec.get("HyperParameters") or {})

    def _mode(self) -> str:
        """builtin-xgboost, entrypoint (ContainerEntrypoint, as the SDK v3 ModelTrainer sends it) or script
        (sagemaker_program). AlgorithmName, Pipe mode and channels other than S3 prefixes were refused at create
        (models/support.py), so every job here has a TrainingImage and S3Prefix channels."""
        algo = self.spec["AlgorithmSpecification"]
        image = algo["TrainingImage"]
        if self._is_builtin_xgboost():
            return "builtin-xgboost"
        if runs_script(image):
            if algo.get("ContainerEntrypoint"):  # replaces the image's entry point, script mode included
                return "entrypoint"
            if "sagemaker_program" in self._hyperparameters():
                return "script"
        raise JobFailed(f"ClientError: the local SageMaker cannot run image {image!r}. Supported: {SUPPORTED_IMAGES}.")

    def _download_channels(self) -> None:
        for channel in self.spec.get("InputDataConfig") or []:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            try:
                count = download_prefix(self.s3, uri, self.layout.channel(channel["ChannelName"]))
            except ChannelError as exc:
                raise JobFailed(f"ClientError: channel {channel['ChannelName']!r}: {exc}") from exc
            if count == 0:
                raise JobFailed(
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source '
                    f"(channel {channel['ChannelName']!r}). Please ensure that the bucket exists in the selected "
                    "region and that objects exist under that S3 prefix."
                )
        if self.spec["AlgorithmSpecification"].get("ContainerEntrypoint"):
            self._remap_driver_scripts()

    def _remap_driver_scripts(self) -> None:
        """The SDK v3's driver scripts (sm_train.sh, environment.py, ...) in the `sm_drivers` channel name
        /opt/ml paths literally; they get the job's own /opt/ml, as the command line does."""
        for path in self.layout.channel("sm_drivers").rglob("*"):
            if path.suffix in (".sh", ".py", ".json") and path.is_file():
                text = path.read_text(errors="replace")
                if OPT_ML in text:
                    path.write_text(self._remap(text))

    def _remap(self, text: str) -> str:
        root = str(self.layout.root)
        if OPT_ML not in text:
            return text
        if not SAFE_PATH.fullmatch(root):  # it is pasted into shell scripts and Python literals unquoted
            raise RuntimeError(f"the job directory {root!r} cannot stand in for /opt/ml.")  # an internal error
        return text.replace(OPT_ML, root)

    def _program(self, mode: str) -> tuple[list[str], Path]:
        """The command line of the job and its working directory, once the channels are downloaded."""
        if mode == "builtin-xgboost":
            return [sys.executable, str(BUILTIN_XGBOOST)], self.layout.root
        if mode == "entrypoint":
            algo = self.spec["AlgorithmSpecification"]
            argv = [*algo["ContainerEntrypoint"], *(algo.get("ContainerArguments") or [])]
            return [self._remap(arg) for arg in argv], self.layout.root
        hps = self._hyperparameters()
        program = str(_decode(hps["sagemaker_program"]))
        submit = str(_decode(hps.get("sagemaker_submit_directory", "")))
        if not submit.startswith("s3://"):
            raise JobFailed(
                f"ClientError: hyperparameter sagemaker_submit_directory must be an s3:// URI of a tar.gz "
                f"holding {program!r}, got {submit!r}."
            )
        archive = self.layout.workdir / "sourcedir.tar.gz"
        try:
            download_file(self.s3, submit, archive)
        except Exception as exc:
            raise JobFailed(f"ClientError: cannot download sagemaker_submit_directory {submit}: {exc}") from exc
        try:
            safe_extract(archive, self.layout.code)
        except UnsafeArchive as exc:
            raise JobFailed(f"ClientError: sagemaker_submit_directory {submit} is unsafe: {exc}") from exc
        except Exception as exc:
            raise JobFailed(f"ClientError: sagemaker_submit_directory {submit} is not a tar.gz: {exc}") from exc
        entry = self.layout.code / program
        if not entry.resolve().is_relative_to(self.layout.code.resolve()) or not entry.is_file():
            raise JobFailed(
                f"AlgorithmError: sagemaker_program {program!r} is not in sagemaker_submit_directory {submit}."
            )
        return _entry_point_argv(program, _script_args(_user_hyperparameters(hps))), self.layout.code

    def _checkpoint_sync(self) -> CheckpointSync | None:
        config = self.spec.get("CheckpointConfig")
        if not config:
            return None
        return CheckpointSync(self.s3, self.layout.checkpoints, config["S3Uri"])

    def _attempt(
        self, argv: list[str], cwd: Path, checkpoints: CheckpointSync | None, compute_before: float
    ) -> tuple[str, int | None]:
        """Run the program once. MaxRuntimeInSeconds counts training time over all attempts; a spot job's
        MaxWaitTimeInSeconds counts wall time since creation, waiting for capacity included."""
        env = base_environment(
            self.backend.region, self.runner.endpoint_url, isolated=bool(self.spec.get("EnableNetworkIsolation"))
        )
        env["PATH"] = f"{self.runner.bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
        env.update(self.layout.environment(self.spec, _user_hyperparameters(self._hyperparameters()), self.job.arn))
        env.update(self.spec.get("Environment") or {})
        if self._is_builtin_xgboost():
            env["SM_HPS"] = json.dumps(self._hyperparameters())
        spot = bool(self.spec.get("EnableManagedSpotTraining"))
        interrupt_after = self.runner.spot.interruption_after(self.job.name, self.job.attempts) if spot else None
        stopping = self.spec.get("StoppingCondition") or {}
        max_runtime = stopping.get("MaxRuntimeInSeconds", 86400)
        process = self.runner.launch(argv, cwd, env, self.spec)
        with self.backend.lock:
            self.job.pids = [process.pid]
            self.backend.save(self.job)
        reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        reader.start()
        attempt_started = time.monotonic()
        last_sync = last_flush = attempt_started
        outcome: str | None = None
        while process.poll() is None:
            time.sleep(0.05)
            now = time.monotonic()
            if self.job.stop_requested:
                outcome = "stopped"
            elif compute_before + now - attempt_started > max_runtime:
                outcome = "max_runtime"
            elif spot and self._max_wait_exceeded():
                outcome = "max_wait"
            elif interrupt_after is not None and now - attempt_started > interrupt_after:
                outcome = "interrupted"
            if outcome:
                _terminate(process, grace=0 if outcome == "interrupted" else STOP_GRACE_SECONDS)
                break
            if now - last_flush > 1.0:
                self._flush()
                last_flush = now
            if checkpoints and now - last_sync > CHECKPOINT_SYNC_SECONDS:
                checkpoints.push()
                last_sync = now
        code = process.wait()
        reader.join(timeout=5)
        self._flush()
        if outcome == "interrupted":
            self._line(f"Spot interruption: attempt {self.job.attempts} was reclaimed after {interrupt_after:.1f}s")
        return (outcome or "exited"), code

    def _read(self, process: Process) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    def _line(self, line: str) -> None:
        at = datetime.now(UTC)
        self._log_file.write(line + "\n")
        self.shipper.add(line, int(at.timestamp() * 1000))
        found = self.parser.parse(line)
        if found:
            with self.backend.lock:
                for name, value in found:
                    self.job.record_metric(name, value, at)
                    self.rules.observe(name, value)
            for name, value in found:
                self.metrics.add(name, value, at)
            self._dirty = True

    def _flush(self) -> None:
        self._log_file.flush()
        try:
            self.shipper.flush()
        except Exception:
            log.exception("could not ship log lines of %s", self.job.name)
        if self._dirty:
            self._dirty = False
            with self.backend.lock:
                self.job.modified = datetime.now(UTC)
                self.backend.save(self.job)

    def _upload(self, message: str) -> None:
        self._update("Uploading", message)
        workdir = self.layout.workdir
        if any(self.layout.model.iterdir()):
            upload_file(self.s3, make_tar_gz(self.layout.model, workdir / "model.tar.gz"), self.job.model_artifacts)
        if self.layout.output_data.is_dir() and any(self.layout.output_data.iterdir()):
            output_uri = self.job.model_artifacts.rsplit("/", 1)[0] + "/output.tar.gz"
            upload_file(self.s3, make_tar_gz(self.layout.output_data, workdir / "output.tar.gz"), output_uri)

    def _algorithm_error(self, code: int | None) -> str:
        failure = self.layout.output / "failure"
        if failure.is_file() and failure.read_text().strip():
            detail = failure.read_text().strip()[:1024]
        else:
            lines = self.layout.log_file.read_text(errors="replace").strip().splitlines()
            detail = "\n".join(lines[-5:])[-1024:] or "no output"
        return f"AlgorithmError: {detail}, exit code: {code}"

    def _max_wait_exceeded(self) -> bool:
        max_wait = (self.spec.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
        if max_wait is None:
            return False
        return (datetime.now(UTC) - self.job.created).total_seconds() > max_wait

    def _account(self, started: float, compute_seconds: float) -> None:
        training = max(1, math.ceil(time.monotonic() - started))
        if self.spec.get("EnableManagedSpotTraining"):
            billable = max(1, math.ceil(compute_seconds * self.runner.spot.price_ratio))
        else:
            billable = training
        with self.backend.lock:
            self.job.training_seconds = training
            self.job.billable_seconds = min(billable, training)

    # --- state updates -------------------------------------------------------------------------
    def _update(self, secondary: str, message: str) -> None:
        with self.backend.lock:
            self.job.set_secondary(secondary, message)
            self.backend.save(self.job)

    def _finish(
        self, status: str, secondary: str, message: str, reason: str | None = None, retryable: bool = False
    ) -> None:
        self.metrics.close()  # in CloudWatch before the job turns terminal, for whoever reads them then
        with self.backend.lock:
            if self.job.terminal:
                return
            self.job.finish(status, secondary, message, reason, retryable)
            self.job.pids = []
            self.backend.save(self.job)


def _decode(value: str) -> Any:
    """A hyperparameter as SageMaker's training toolkit reads hyperparameters.json: JSON where it parses (the
    SageMaker Python SDK JSON-encodes values: '"train.py"', '0.3', 'true'), else the string itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _user_hyperparameters(hyperparameters: dict[str, str]) -> dict[str, Any]:
    """Decoded, without the sagemaker_* ones, which the toolkit keeps to itself (SM_HPS and arguments)."""
    return {k: _decode(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}


def _script_args(hyperparameters: dict[str, Any]) -> list[str]:
    """`--name value`, sorted by name, each value rendered as the toolkit renders it (str(): 5, 0.3, True; a
    JSON object as k=v,k=v)."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
        args += [f"--{key}", "" if value is None else str(value)]
    return args


def _entry_point_argv(program: str, args: list[str]) -> list[str]:
    return [sys.executable, program, *args] if program.endswith(".py") else ["/bin/sh", program, *args]


def _terminate(process: Process, grace: float) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM if grace else signal.SIGKILL)
        process.wait(timeout=grace or 5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
