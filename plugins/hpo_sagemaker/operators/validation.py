"""Operators that check a tuning job's inputs before any money is spent."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from include.pipeline.metric_checks import check_against_log, check_definitions
from include.pipeline.spot import spot_definition, worst_case_cost

if TYPE_CHECKING:
    from airflow.sdk import Context


class MetricDefinitionError(Exception):
    """The metric definitions would not give the tuner an objective; the message lists every problem."""


class MetricRegexValidationOperator(BaseOperator):
    """Prove the metric regexes match what the training script really prints.

    Runs `entry_point` on a few rows of each sample channel (read through the provider's S3 hook) with a
    time limit, or takes a supplied `sample_log`, then checks every definition (see
    include/pipeline/metric_checks.py). With `intermediate` (Hyperband, Auto early stopping) the objective
    must appear at least twice. Fails naming the metric, the regex and the lines it was tried on.
    """

    template_fields: Sequence[str] = (
        "metric_definitions",
        "objective_metric",
        "intermediate",
        "sample_channels",
        "entry_point",
        "entry_point_args",
    )

    def __init__(
        self,
        *,
        metric_definitions: list[dict[str, str]],
        objective_metric: str,
        intermediate: bool | str = False,
        builtin_metrics: Sequence[str] = (),
        sample_log: list[str] | None = None,
        entry_point: str | None = None,
        entry_point_args: Sequence[str] = (),
        sample_channels: dict[str, str] | None = None,
        sample_rows: int = 200,
        timeout: float = 120,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if sample_log is None and entry_point is None:
            raise ValueError("give sample_log or entry_point (with sample_channels) to check the regexes against")
        self.metric_definitions = metric_definitions
        self.objective_metric = objective_metric
        self.intermediate = intermediate
        self.builtin_metrics = builtin_metrics
        self.sample_log = sample_log
        self.entry_point = entry_point
        self.entry_point_args = entry_point_args
        self.sample_channels = sample_channels or {}
        self.sample_rows = sample_rows
        self.timeout = timeout
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        lines = self.sample_log if self.sample_log is not None else self._run_entry_point()
        # A Jinja template renders a bool as text; an XComArg gives the bool itself.
        intermediate = self.intermediate if isinstance(self.intermediate, bool) else self.intermediate == "True"
        problems = check_definitions(self.metric_definitions, self.objective_metric, self.builtin_metrics)
        problems += check_against_log(self.metric_definitions, self.objective_metric, lines, intermediate=intermediate)
        if problems:
            raise MetricDefinitionError(
                f"{len(problems)} problem(s) with the metric definitions:\n" + "\n".join(str(p) for p in problems)
            )
        self.log.info("All %d metric definitions match the script's output", len(self.metric_definitions))
        return {"checked_lines": len(lines), "metrics": [d["Name"] for d in self.metric_definitions]}

    def _run_entry_point(self) -> list[str]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        with tempfile.TemporaryDirectory(prefix="metric-check-") as tmp:
            root = Path(tmp)
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
            for channel, uri in self.sample_channels.items():
                directory = root / "input" / channel
                directory.mkdir(parents=True)
                bucket, prefix = S3Hook.parse_s3_url(uri)
                keys = [k for k in s3.list_keys(bucket_name=bucket, prefix=prefix) or [] if not k.endswith("/")]
                if not keys:
                    raise MetricDefinitionError(f"sample channel {channel!r} has no objects under {uri}")
                head = s3.read_key(keys[0], bucket_name=bucket).splitlines()[: self.sample_rows]
                (directory / "sample.csv").write_text("\n".join(head) + "\n")
                env[f"SM_CHANNEL_{channel.upper()}"] = str(directory)
            for name in ("model", "output", "checkpoints"):
                (root / name).mkdir()
            env.update(
                SM_MODEL_DIR=str(root / "model"),
                SM_OUTPUT_DATA_DIR=str(root / "output"),
                SM_CHECKPOINT_DIR=str(root / "checkpoints"),
            )
            command = [sys.executable, str(self.entry_point), *map(str, self.entry_point_args)]
            try:
                run = subprocess.run(
                    command, env=env, cwd=root, capture_output=True, text=True, timeout=self.timeout, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise MetricDefinitionError(
                    f"{self.entry_point} did not finish on the sample within {self.timeout:g}s"
                ) from exc
        lines = (run.stdout + run.stderr).splitlines()
        if run.returncode != 0:
            tail = "\n".join(lines[-10:])
            raise MetricDefinitionError(f"{self.entry_point} failed on the sample (exit {run.returncode}):\n{tail}")
        return lines


class SpotTrainingConfigOperator(BaseOperator):
    """Turn a training job definition into a managed-spot one (or pass it through), and log the worst case.

    The returned definition (XCom) has EnableManagedSpotTraining, MaxWaitTimeInSeconds = wait_ratio ×
    MaxRuntimeInSeconds and a per-run CheckpointConfig.S3Uri; inconsistent input fails naming the field.
    """

    template_fields: Sequence[str] = ("definition", "checkpoint_uri", "use_spot", "max_jobs")

    def __init__(
        self,
        *,
        definition: dict[str, Any],
        use_spot: bool,
        checkpoint_uri: str | None,
        max_jobs: int,
        wait_ratio: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.use_spot = use_spot
        self.checkpoint_uri = checkpoint_uri
        self.max_jobs = max_jobs
        self.wait_ratio = wait_ratio

    def execute(self, context: Context) -> dict[str, Any]:
        use_spot = self.use_spot if isinstance(self.use_spot, bool) else str(self.use_spot).lower() == "true"
        out = spot_definition(
            self.definition, use_spot=use_spot, checkpoint_uri=self.checkpoint_uri, wait_ratio=self.wait_ratio
        )
        estimate = worst_case_cost(out, int(self.max_jobs))
        self.log.info(
            "Tuning job of %d jobs, %s: %s",
            int(self.max_jobs),
            "spot" if use_spot else "on-demand",
            estimate.describe(),
        )
        return out
