"""The DAG files' tasks run against the local SageMaker."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def test_dagbag_loads_every_dag_without_import_errors(local_sagemaker):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "ingest_flights",
        "hpo_nightly",
        "hpo_on_new_data",  # the flight model keeps the ids it had before specs
        "hotel_rates_ingest",
        "hotel_rates_nightly",
        "hotel_rates_on_new_data",
    }
    for dag in bag.dags.values():
        assert "hpo" in dag.tags
        assert all(task.retries >= 2 for task in dag.tasks), dag.dag_id
        # The UI's DAG docs explain every Param of the trigger form, with the default the form shows.
        assert dag.doc_md and dag.doc_md.lstrip().startswith(f"### {dag.dag_id}"), dag.dag_id
        for name, param in dag.params.items():
            row = next((line for line in dag.doc_md.splitlines() if line.startswith(f"| `{name}` |")), None)
            assert row, f"{dag.dag_id}: Param {name} is not in doc_md"
            assert param.value is None or f"`{param.value}`" in row, (dag.dag_id, row)
    assert "`auto`" in bag.dags["hpo_on_new_data"].doc_md.split("| `warm_start` |")[1].split("|")[1]
    assert bag.dags["hpo_on_new_data"].params["max_jobs"] == 10  # the spec's on_new_data defaults
    assert bag.dags["hotel_rates_nightly"].params["holdout_days"] == 7


def test_ingest_flights_lands_the_logical_dates_partition_idempotently(airflow_db, s3):
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS / "flight_delay.py")).dags["ingest_flights"]
    key = "raw/flights/date=2013-03-05/flights.parquet"
    for _ in range(2):  # a rerun of the same date rewrites the same partition
        run = dag.test(logical_date=pendulum.datetime(2013, 3, 5, tz="UTC"))
        assert run.state == "success"
        head = s3.head_object(Bucket="hpo-demo", Key=key)
        assert head["ContentLength"] > 1000
    listed = s3.list_objects_v2(Bucket="hpo-demo", Prefix="raw/flights/date=2013-03-05/")["Contents"]
    assert [o["Key"] for o in listed] == [key]
