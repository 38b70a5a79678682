"""A sensor beside the tuning task that stops the tuning job's overfitting training jobs (the stop_on_overfit Param).

Each poke is one pass of include/pipeline/overfit.py over the tuning job's running training jobs: their logs
are read from CloudWatch Logs and a job on which AWS's Overfit rule fires is tagged and stopped. The sensor is
done when the tuning job has ended; its XCom says which jobs the rule stopped and the rounds that saved. It keeps
no state between pokes (the tags are the record), so it runs in reschedule mode, holding no worker slot between
pokes, and a retried or cleared sensor picks up where it was. Without a rule (the Param is off) it skips at once.
The same calls work on AWS and on the local SageMaker: AWS cannot attach Debugger rules to a tuning job's
training jobs, so this is how a tuning run gets the rule on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from include.pipeline.tuning_summary import TERMINAL_STATUSES

if TYPE_CHECKING:
    from airflow.sdk import Context


class OverfitStopSensor(BaseSensorOperator):
    """Stop the tuning job's training jobs that overfit, until the tuning job ends.

    :param tuning_job_name: the tuning job to watch (it may not exist yet: the sensor waits for it).
    :param rule: an OverfitRule as XCom (include/pipeline/overfit.py), or None to skip.
    :param poll_seconds: seconds between pokes, templated (the DAGs use the tune task's `hpo_poll_seconds`).
    """

    template_fields: Sequence[str] = ("tuning_job_name", "rule", "poll_seconds")

    def __init__(
        self,
        *,
        tuning_job_name: str,
        rule: dict[str, Any] | None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_seconds: float | str = 10,
        mode: str = "reschedule",
        **kwargs: Any,
    ) -> None:
        super().__init__(mode=mode, **kwargs)  # poke_interval: the rendered poll_seconds, set in execute
        self.poll_seconds = poll_seconds
        self.tuning_job_name = tuning_job_name
        self.rule = rule
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def execute(self, context: Context) -> Any:
        if not self.rule:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("stop_on_overfit is off: no rule to apply")
        self.poke_interval = float(self.poll_seconds)  # rendered by now (a template gives text)
        return super().execute(context)

    @cached_property
    def _clients(self) -> tuple[Any, Any]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return tuple(  # type: ignore[return-value]
            AwsBaseHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, client_type=service).get_conn()
            for service in ("sagemaker", "logs")
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from include.pipeline.overfit import OverfitRule, check_running_jobs, summarize_stops

        rule = OverfitRule.from_xcom(dict(self.rule or {}))
        sm, logs = self._clients
        status = check_running_jobs(sm, logs, self.tuning_job_name, rule)
        if status not in TERMINAL_STATUSES:
            return False
        summary = summarize_stops(sm, logs, self.tuning_job_name, rule)
        stopped = summary["stopped"]
        self.log.info(
            "Tuning job %s %s; the %s rule stopped %d training job(s)%s",
            self.tuning_job_name,
            status,
            summary["rule"],
            len(stopped),
            f", saving {summary['rounds_saved']} rounds" if stopped else "",
        )
        return PokeReturnValue(is_done=True, xcom_value=summary)
