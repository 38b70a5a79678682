"""A SageMaker tuning operator that is safe to retry, clear and kill.

It does what the provider's SageMakerTuningOperator does (integer fields of a templated config cast, the role
expanded, the provider's SageMakerHook and SageMakerTrigger), but stands on BaseOperator and imports the
provider only when it runs: the provider's operator module pulls in boto3, which DAG files must not pay for at
parse time (about 80 ms of a 200 ms budget).

Upstream, a retried task whose first try created the tuning job fails with ResourceInUse, a Stopped tuning job
counts as success on the synchronous path, `on_kill` does nothing and the XCom is the whole describe result.
Here the job name is the caller's deterministic per-run name (include/pipeline/naming.py) and:

- before creating, Describe: a missing job (ResourceNotFound) is created with a tag holding the hash of its
  config; an existing one with the same hash is reattached (waited for, or its result returned); one with a
  different hash fails the task with a message naming both, never pays twice;
- a reattached job that has already ended is not waited for: its result (or its failure) is the task's, at once;
- after launch, the first child training job is checked for the spot and checkpoint settings the definition
  asked for (SDKs have dropped them more than once); a mismatch stops the tuning job. Deferrable, the task
  does not hold a worker while the first child is awaited: it defers for a few seconds at a time;
- while waiting, one line per poll: `7/20 jobs done, 2 running, best validation:auc=0.7312`; or, with
  `deferrable=True`, the provider's SageMakerTrigger waits in the triggerer for as long as the job can run
  (not the trigger's 4-hour default) and `execute_complete` re-describes the job whatever the event says;
- Failed and Stopped end the task with the job's reason; `on_kill` stops the tuning job;
- the XCom is a compact summary (names, best job, objective, times, artifact URI), and the report's URL is
  pushed for the "Tuning report" extra link.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.configuration import conf
from airflow.sdk import BaseOperator

from hpo_sagemaker.links import REPORT_URL_KEY, TuningReportLink
from include.pipeline.spot import spot_settings_problems
from include.pipeline.tuning_summary import (
    CONFIG_HASH_TAG,
    TERMINAL_STATUSES,
    config_hash,
    progress_line,
    summarize,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from hpo_sagemaker.hooks import TuningHook

CHILD_POLL_SECONDS = 5  # how often the first training job is looked for
# Fields a Jinja-rendered config holds as text; SageMaker wants integers (the provider's list, both config forms).
INTEGER_FIELDS = (
    ("HyperParameterTuningJobConfig", "ResourceLimits", "MaxNumberOfTrainingJobs"),
    ("HyperParameterTuningJobConfig", "ResourceLimits", "MaxParallelTrainingJobs"),
    ("HyperParameterTuningJobConfig", "ResourceLimits", "MaxRuntimeInSeconds"),
    *(
        (form, *path)
        for form in ("TrainingJobDefinition", "TrainingJobDefinitions")
        for path in (
            ("ResourceConfig", "InstanceCount"),
            ("ResourceConfig", "VolumeSizeInGB"),
            ("StoppingCondition", "MaxRuntimeInSeconds"),
            ("StoppingCondition", "MaxWaitTimeInSeconds"),
        )
    ),
)


def cast_integers(config: Any, path: tuple[str, ...]) -> None:
    """Cast the field at path (through lists, as in TrainingJobDefinitions) to int, where it is present."""
    if isinstance(config, list):
        for item in config:
            cast_integers(item, path)
        return
    if not isinstance(config, dict) or path[0] not in config:
        return
    if len(path) == 1:
        config[path[0]] = int(config[path[0]])
    else:
        cast_integers(config[path[0]], path[1:])


class TuningJobError(Exception):
    """The tuning job ended Failed or Stopped, or a different job holds its name."""


def training_job_definitions(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's definitions, whichever of its two forms (single or multi-algorithm) it uses."""
    if "TrainingJobDefinition" in config:
        return [config["TrainingJobDefinition"]]
    return config["TrainingJobDefinitions"]


def waiter_max_attempts(config: dict[str, Any], check_interval: float) -> int:
    """Polls the trigger may make: the longest the tuning job can run, with 10 % slack, over the interval.

    The longest run is ceil(jobs / parallel) rounds of the per-job limit (MaxWait for spot jobs, which
    includes waiting for capacity), capped by the tuning job's own MaxRuntimeInSeconds if it has one.
    """
    tuning = config["HyperParameterTuningJobConfig"]
    limits = tuning["ResourceLimits"]
    definitions = training_job_definitions(config)
    per_job = max(
        (d.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds")
        or (d.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 86400)
        for d in definitions
    )
    jobs = limits.get("MaxNumberOfTrainingJobs") or 500  # Grid without a limit: at most 500 combinations
    longest = math.ceil(jobs / limits["MaxParallelTrainingJobs"]) * per_job
    if limits.get("MaxRuntimeInSeconds"):
        longest = min(longest, limits["MaxRuntimeInSeconds"])
    return math.ceil(longest * 1.1 / check_interval) + 10


class ReattachingTuningOperator(BaseOperator):
    template_fields: Sequence[str] = (
        "config",
        "aws_conn_id",
        "region_name",
        "verify",
        "training_job_definition",
        "report_uri",
        "check_interval",
    )
    template_fields_renderers = {"config": "json", "training_job_definition": "json"}
    operator_extra_links = (TuningReportLink(),)

    def __init__(
        self,
        *,
        config: dict,
        training_job_definition: dict | None = None,
        report_uri: str | None = None,
        check_interval: int | str = 30,
        child_check_timeout: float = 300,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.check_interval = check_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.deferrable = deferrable
        self.training_job_definition = training_job_definition
        self.report_uri = report_uri
        self.child_check_timeout = child_check_timeout
        self._created: str | None = None

    @cached_property
    def hook(self) -> TuningHook:
        from hpo_sagemaker.hooks import TuningHook

        return TuningHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )

    def preprocess_config(self) -> None:
        """As the provider does: integer fields cast (a rendered template holds text), a role name made an ARN."""
        if "S3Operations" in self.config:
            raise TuningJobError("S3Operations in a tuning config are not supported here: upload beforehand")
        for path in INTEGER_FIELDS:
            cast_integers(self.config, path)
        for definition in training_job_definitions(self.config):
            if not str(definition.get("RoleArn", "arn:")).startswith("arn:"):
                definition["RoleArn"] = self.hook.expand_role(definition["RoleArn"])

    @property
    def poll_seconds(self) -> int:
        """check_interval as a number. It is a template field, so it may arrive as text, and it is rendered again
        whenever the task starts, a resume from deferral included."""
        return int(self.check_interval)

    def execute(self, context: Context) -> dict[str, Any]:
        self._merge_definition()
        self.preprocess_config()
        name = self.config["HyperParameterTuningJobName"]
        digest = config_hash(self.config)
        described = self.hook.describe_tuning_job_or_none(name)
        if described is None:
            tags = [t for t in self.config.get("Tags", []) if t["Key"] != CONFIG_HASH_TAG]
            self.config["Tags"] = [*tags, {"Key": CONFIG_HASH_TAG, "Value": digest}]
            self.log.info("Creating tuning job %s (config %s)", name, digest)
            self.hook.start_tuning_job(self.config)
        else:
            self._check_same_config(name, described, digest)
            status = described["HyperParameterTuningJobStatus"]
            self.log.info("Reattaching to tuning job %s (%s)", name, status)
            if status in TERMINAL_STATUSES:  # a retry after the job ended: nothing to wait for or to check
                self._push_report_url(context)
                return self._finish(described)
        self._created = name
        self._push_report_url(context)
        if self.deferrable:
            self.resume_child_check(context, deadline=time.time() + self.child_check_timeout)
        self._check_children(name)
        return self._finish(self._wait(name))

    def resume_child_check(self, context: Context, event: Any = None, *, deadline: float) -> NoReturn:
        """Deferrable: check the first training job's settings once it exists, looking again every few seconds
        from the triggerer rather than a worker; then wait for the tuning job in the SageMakerTrigger."""
        self._merge_definition()  # a resumed task is rendered afresh: as execute found its config
        for path in INTEGER_FIELDS:
            cast_integers(self.config, path)
        name = self._created = self.config["HyperParameterTuningJobName"]
        child = self.hook.first_training_job(name)
        if child is None:
            ended = self.hook.describe_tuning_job(name)["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES
            if not ended and time.time() < deadline:
                from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

                self.defer(
                    trigger=TimeDeltaTrigger(timedelta(seconds=min(self.poll_seconds, CHILD_POLL_SECONDS))),
                    method_name="resume_child_check",
                    kwargs={"deadline": deadline},
                )
            self.log.warning("No training job of %s to check the spot settings on", name)
        else:
            self._check_child(name, child)
        self._defer_until_done(name)

    def _defer_until_done(self, name: str) -> NoReturn:  # type: ignore[misc]  # self.defer raises; mypy skips Airflow
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        attempts = waiter_max_attempts(self.config, self.poll_seconds)
        self.log.info("Deferring: the trigger polls %s every %ss, up to %d times", name, self.poll_seconds, attempts)
        self.defer(
            trigger=SageMakerTrigger(
                job_name=name,
                job_type="tuning",
                waiter_delay=self.poll_seconds,
                waiter_max_attempts=attempts,
                aws_conn_id=self.aws_conn_id,
                region_name=self.hook.conn_region_name,  # the connection's region, also for the triggerer
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        # The event only says the waiter stopped; the job's own status decides (a Stopped job is no success).
        name = (event or {}).get("job_name") or self.config["HyperParameterTuningJobName"]
        self.log.info("Trigger for %s ended with %s", name, (event or {}).get("status"))
        return self._finish(self._describe_terminal(name))

    def on_kill(self) -> None:
        if not self._created:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            why_not = self.hook.stop_tuning_job(self._created)
        except (ClientError, BotoCoreError) as exc:
            # Refused or unreachable: logged, not raised, as a job that may still be billing.
            self.log.warning("Could not stop tuning job %s, it may still be running: %s", self._created, exc)
            return
        if why_not is None:
            self.log.info("Stopped tuning job %s", self._created)
        else:  # already ended: nothing to stop
            self.log.info("Tuning job %s not stopped: %s", self._created, why_not)

    # --- helpers ---------------------------------------------------------------------------------
    def _merge_definition(self) -> None:
        """The definition passed on its own (from an upstream task's XCom) joins the config."""
        if self.training_job_definition is not None and "TrainingJobDefinition" not in self.config:
            self.config = {**self.config, "TrainingJobDefinition": self.training_job_definition}

    def _check_same_config(self, name: str, described: dict[str, Any], digest: str) -> None:
        existing = self.hook.tag_value(described["HyperParameterTuningJobArn"], CONFIG_HASH_TAG)
        if existing != digest:
            raise TuningJobError(
                f"Tuning job {name} exists with a different configuration (config hash {existing}, this task's "
                f"{digest}). A run's job name must not be reused for another config: clear the run with a new "
                "run id, or delete the old tuning job."
            )

    def _push_report_url(self, context: Context) -> None:
        if not self.report_uri:
            return
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        bucket, key = S3Hook.parse_s3_url(self.report_uri)
        hook = S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        # Presigned: opens in a browser as is, against AWS or whatever endpoint the connection names.
        url = hook.generate_presigned_url("get_object", params={"Bucket": bucket, "Key": key}, expires_in=7 * 86400)
        context["ti"].xcom_push(key=REPORT_URL_KEY, value=url)

    def _check_children(self, name: str) -> None:
        """Wait for the first training job (in this worker), then check it."""
        deadline = time.monotonic() + self.child_check_timeout
        while (child := self.hook.first_training_job(name)) is None:
            ended = self.hook.describe_tuning_job(name)["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES
            if ended or time.monotonic() > deadline:
                self.log.warning("No training job of %s to check the spot settings on", name)
                return
            time.sleep(min(self.poll_seconds, CHILD_POLL_SECONDS))
        self._check_child(name, child)

    def _check_child(self, name: str, child: dict[str, Any]) -> None:
        """Stop the tuning job if its first training job lacks the spot/checkpoint settings it was given."""
        problems = spot_settings_problems(training_job_definitions(self.config)[0], child)
        if problems:
            self.on_kill()
            raise TuningJobError(
                f"Tuning job {name} stopped: its training job {child['TrainingJobName']} does not carry the "
                f"settings it was given: {'; '.join(problems)}"
            )
        self.log.info("Training job %s carries the definition's spot and checkpoint settings", child["TrainingJobName"])

    def _wait(self, name: str) -> dict[str, Any]:
        last = ""
        while True:
            described = self.hook.describe_tuning_job(name)
            line = progress_line(described)
            if line != last:
                self.log.info("%s: %s", name, line)
                last = line
            if described["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES:
                return described
            time.sleep(self.poll_seconds)

    def _describe_terminal(self, name: str) -> dict[str, Any]:
        described = self.hook.describe_tuning_job(name)
        self.log.info("%s: %s", name, progress_line(described))
        if described["HyperParameterTuningJobStatus"] not in TERMINAL_STATUSES:
            raise TuningJobError(
                f"Tuning job {name} is still {described['HyperParameterTuningJobStatus']} after the trigger gave up"
            )
        return described

    def _finish(self, described: dict[str, Any]) -> dict[str, Any]:
        name, status = described["HyperParameterTuningJobName"], described["HyperParameterTuningJobStatus"]
        if status != "Completed":
            raise TuningJobError(
                f"Tuning job {name} ended {status}: {described.get('FailureReason', 'stopped before completing')}"
            )
        return {**summarize(described, self._best_artifact(described)), "report_uri": self.report_uri}

    def _best_artifact(self, described: dict[str, Any]) -> str | None:
        best = described.get("BestTrainingJob")
        if not best:
            return None
        return self.hook.model_artifact(best["TrainingJobName"])
