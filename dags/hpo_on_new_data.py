"""
### hpo_on_new_data

Runs when new flight data lands (the `raw_flights` Asset that `ingest_flights` publishes): a smaller,
warm-started retune on the window that ends at the landed day, held out for the champion comparison.

Same chain as `hpo_nightly` (`prepare_data → validate_metrics → spot_config → tune → evaluate → decide_deploy →
[approve] → deploy → smoke_test`, plus `report`), with other defaults:

- **Warm start `auto`**: a `TransferLearning` tuning job (the data changed) whose parents are the current
  champion's tuning job plus the newest evaluated runs, at most 5, read from the champion history that every
  tuning DAG writes. Parents that no longer exist, have not finished or could not be a parent (another
  objective, other hyperparameters or range types, another image) are skipped with a warning in
  `prepare_data`'s log; with none left the job runs cold. The report shows each parent's best next to this job's.
- **10 jobs** instead of 20: the parents' jobs seed the search.
- **7 validation days** instead of 1: the parents were tuned on other days, and a single day of flights
  (a few hundred rows) is too noisy to tell their hyperparameters apart. With 7, the warm child's best after
  10 jobs is level with a cold run's after 20 (`benchmarks/results/warm_start.md`). The window needs
  `training_window_days` + 7 days of partitions before the held-out day.
- **Held-out day**: the newest `date` in the triggering asset events' extra (several landings may be
  batched into one run; events naming another bucket are left out), unless the `holdout_date` Param names one.

On real AWS, where data may arrive from outside Airflow, keep this DAG and make the Asset event come from
the arrival instead of `ingest_flights`: see "Data that lands outside Airflow" in the README (a deferrable
`S3KeySensor` that emits the same event, or an `AssetWatcher` on the bucket's SQS notifications).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from include.assets import RAW_FLIGHTS
from include.pipeline.tuning_config import RETUNE_DEFAULTS
from include.tuning_chain import params, params_doc, tuning_chain

PARAMS = params(**RETUNE_DEFAULTS)  # warm_start auto, max_jobs 10, validation_days 7


@dag(
    schedule=RAW_FLIGHTS,
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=10)},
    tags=["hpo", "tuning", "warm-start"],
    doc_md=__doc__ + params_doc(PARAMS),
)
def hpo_on_new_data():
    tuning_chain()


hpo_on_new_data()
