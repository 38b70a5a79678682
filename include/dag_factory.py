"""A model's DAGs from its spec: the nightly tuning run, the warm-started retune when data lands, and the ingest.

A DAG file in `dags/` calls `model_dags` with its spec file and nothing else, so a broken spec is an import
error of that file alone (Airflow drops every DAG of a file that raises) and the other models still load. The
DAGs of one model:

- `<nightly>`: `@daily` over the data's dates (backfills included), the tuning chain with the spec's defaults;
- `<on_new_data>`: scheduled on the model's partitions Asset, a warm-started retune (`warm_start` auto and the
  spec's `on_new_data` defaults) holding out the landed day;
- `<ingest>` (only with a `data.source`): lands the logical date's partition and publishes the Asset.

The trigger form of both tuning DAGs comes from include/pipeline/params.py's table, the same rows that check
the values in `prepare_data`. Only `airflow.sdk` and light modules are imported at module level.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Metadata, Param, task

from include.pipeline.params import NIGHTLY, ON_NEW_DATA, PARAM_TABLE, defaults, row_schema
from include.pipeline.spec import ModelSpec, load_spec
from include.tuning_chain import tuning_chain

DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=10)}

CHAIN_DOC = """
`prepare_data → validate_metrics → spot_config → tune → evaluate → decide_deploy → [approve] → deploy →
smoke_test`, with `report` (HTML + plots in S3, linked from the tune task) after `evaluate`. Invalid Params
(Hyperband with Auto early stopping, more jobs at once than jobs, a warm start without parents, ...) and
missing or malformed partitions fail `prepare_data` naming the Param or the day, before anything is created.
Which SageMaker runs the jobs is decided by the `aws_default` connection alone.
"""


def airflow_params(spec: ModelSpec, variant: str = NIGHTLY) -> dict[str, Param]:
    """The trigger form: one Param per row of the table, with the model's defaults, in the table's sections."""
    values = defaults(spec, variant)
    out = {}
    for row in PARAM_TABLE:
        extra: dict[str, Any] = {"title": row.title, "section": row.section}
        shown = {k: v for k, v in row.values_display.items() if k in row_schema(row, spec).get("enum", ())}
        if shown:
            extra["values_display"] = shown
        description = row.description
        if row.name == "hyperparameters":
            statics = ", ".join(f"{k}={v}" for k, v in spec.static_hyperparameters.items()) or "none"
            description = f"{description} The spec's: {statics}."
        out[row.name] = Param(values[row.name], description, **row_schema(row, spec), **extra)
    return out


def params_doc(params: dict[str, Param]) -> str:
    """A Markdown table of the Params (default, allowed values, meaning) for a DAG's doc_md, made from the Params
    themselves so that the docs in the UI cannot drift from the form."""

    def allowed(schema: dict[str, Any]) -> str:
        if "enum" in schema:
            return ", ".join(f"`{v}`" for v in schema["enum"])
        if "minimum" in schema or "maximum" in schema:
            return f"{schema.get('minimum', '')} – {schema.get('maximum', '')}"
        if schema.get("format") == "date":
            return "a date (YYYY-MM-DD)" + (" or empty" if "null" in schema.get("type", []) else "")
        kinds = schema.get("type", "")
        return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)

    rows = [
        f"| `{name}` | {'empty' if param.value is None else f'`{param.value}`'} | {allowed(param.schema)} | "
        f"{param.description or ''} |"
        for name, param in params.items()
    ]
    return "\n".join(["", "#### Params", "", "| Param | default | allowed | meaning |", "|---|---|---|---|", *rows, ""])


def partitions_asset(spec: ModelSpec) -> Asset:
    """The model's landed partitions; each event's extra carries the `date` (and `bucket`) that landed.

    Named, without a URI scheme: the bucket is a deployment's Variable, unknown at parse time, and a scheme
    (s3://, or one of our own) makes Airflow load every provider's URI handlers while the DAG file parses
    (about 130 ms, more than half the parse budget).
    """
    return Asset(name=spec.asset_name)


def _day(value: datetime.date) -> pendulum.DateTime:
    return pendulum.datetime(value.year, value.month, value.day, tz="UTC")


def _tuning_dag(spec: ModelSpec, spec_file: str, variant: str) -> DAG:
    params = airflow_params(spec, variant)
    nightly = variant == NIGHTLY
    values = {name: param.value for name, param in params.items()}  # the form's defaults
    if nightly:
        what = (
            f"Every night, tunes `{spec.name}` on the trailing window of daily partitions that ends at the logical "
            "date, compares the best model with the current champion on the held-out window, and deploys it if it "
            "wins. A manual run (*Trigger DAG*) holds out the `holdout_date` Param, or the newest landed day; a "
            "backfill evaluates each of its days and records them, and never deploys."
        )
        # The first day with a whole window of data before it.
        span = values["training_window_days"] + values["validation_days"] + values["holdout_days"] - 1
        schedule: Any = "@daily"
        start = spec.data.first_day + datetime.timedelta(days=span)
        dag_id, tags = spec.nightly_dag_id, ["hpo", "tuning", spec.name]
    else:
        what = (
            f"Runs when new `{spec.name}` data lands (the `{spec.asset_name}` Asset): a warm-started retune "
            "(warm_start `auto`: TransferLearning from the champion's and the newest runs' tuning jobs, found in the "
            "champion history) on the window that ends at the landed day, held out for the champion comparison."
        )
        schedule, start = partitions_asset(spec), spec.data.first_day
        dag_id, tags = spec.on_new_data_dag_id, ["hpo", "tuning", "warm-start", spec.name]
    doc = f"### {dag_id}\n\n{spec.description}\n\n{what}\n{CHAIN_DOC}{params_doc(params)}"
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        # No end_date, even where the data ends: Airflow would then create no task for a run triggered today.
        # Scheduled runs past the data's last day skip instead (prepare_data).
        start_date=_day(start),
        catchup=False,
        max_active_runs=1,
        params=params,
        default_args=DEFAULT_ARGS,
        tags=tags,
        doc_md=doc,
    ) as dag:
        tuning_chain(spec, spec_file)
    return dag


def _ingest_dag(spec: ModelSpec, spec_file: str) -> DAG:
    asset = partitions_asset(spec)
    doc = (
        f"### {spec.ingest_dag_id}\n\nLands the logical date's `{spec.name}` partition at "
        f"`s3://<bucket>/{spec.data.partitions}/date=YYYY-MM-DD/{spec.data.file}` and publishes the "
        f"`{spec.asset_name}` Asset with the date in its metadata, which triggers `{spec.on_new_data_dag_id}`. "
        "Re-running a date rewrites the same partition. The bucket is the Airflow Variable `hpo_bucket`."
    )
    with DAG(
        dag_id=spec.ingest_dag_id,
        schedule="@daily",
        start_date=_day(spec.data.first_day),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["hpo", "data", spec.name],
        doc_md=doc,
    ) as dag:

        @task(outlets=[asset])
        def land_partition(spec_file: str, logical_date: Any = None):
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook
            from airflow.sdk import Variable
            from airflow.sdk.exceptions import AirflowSkipException

            from include.pipeline.ingest import land_day

            model = load_spec(spec_file)
            last = model.data.last_day
            if last is not None and logical_date.date() > last:
                raise AirflowSkipException(f"{model.name}'s data ends on {last} (data.last_day): nothing to land")
            bucket = Variable.get("hpo_bucket", default="hpo-demo")
            landed = land_day(S3Hook(aws_conn_id="aws_default").get_conn(), bucket, model, logical_date.date())
            yield Metadata(asset, {**landed, "bucket": bucket})  # which data: the retune checks the bucket

        land_partition(spec_file=spec_file)
    return dag


def model_dags(spec_file: str | Path) -> list[DAG]:
    """Load the spec (a SpecError names the file and field) and create the model's DAGs in the calling file."""
    path = str(Path(spec_file).resolve())
    spec = load_spec(path)
    dags = [_tuning_dag(spec, path, NIGHTLY), _tuning_dag(spec, path, ON_NEW_DATA)]
    if spec.data.source is not None:
        dags.append(_ingest_dag(spec, path))
    return dags
