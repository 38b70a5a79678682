"""
### hpo_nightly

Every night, tunes the flight-delay model on the trailing window of daily partitions that ends at the logical
date, compares the best model with the current champion on the held-out day, and deploys it if it wins:

`prepare_data → validate_metrics → spot_config → tune → evaluate → decide_deploy → [approve] → deploy →
smoke_test`, with `report` (HTML + plots in S3, linked from the tune task) after `evaluate`.

- **Nightly**: the schedule; uses the Params' defaults (Bayesian, 20 jobs, 2 in parallel).
- **Manual**: *Trigger DAG w/ config* shows a form of the Params below; set `holdout_date` (the data is 2013).
- **Backfill**: `airflow backfill create --dag-id hpo_nightly --from-date 2013-03-01 --to-date 2013-03-07`;
  each run uses only data up to its own date, records its evaluation in the champion history, never deploys.

Invalid Param combinations (Hyperband with Auto early stopping, parallel above the job count, a warm start
without parents, ...) fail `prepare_data` with a message naming the Param, before anything is created.
Which SageMaker runs the jobs is decided by the `aws_default` connection alone.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from include.tuning_chain import PARAMS, params_doc, tuning_chain


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2013, 1, 29, tz="UTC"),
    end_date=pendulum.datetime(2013, 12, 31, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=10)},
    tags=["hpo", "tuning"],
    doc_md=__doc__ + params_doc(PARAMS),
)
def hpo_nightly():
    tuning_chain()


hpo_nightly()
