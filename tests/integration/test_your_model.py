"""A new user adds a model by following docs/your-model.md: its three files, taken from the page itself.

The spec and the script go into a folder of the test's own, the DAG file into the session's second DAG bundle;
nothing in the repository is written or changed. Then the model's DAGs parse and a short nightly run goes end
to end on the local SageMaker: tune (scikit-learn in script mode), evaluate, deploy, smoke test, report.
"""

from __future__ import annotations

import re
import subprocess

import yaml

from harness.local_sagemaker import ROOT

GUIDE = ROOT / "docs" / "your-model.md"
BUCKET = "your-model-tests"


def guide_files() -> dict[str, str]:
    """The guide's code blocks, each under the file name its section gives (`path`: before the block)."""
    text = GUIDE.read_text()
    blocks = re.findall(r"`([\w/.]+\.(?:yaml|py))`:\n\n```(?:yaml|python)\n(.*?)```", text, re.DOTALL)
    return dict(blocks)


def tracked_changes() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_a_new_model_from_the_guide_parses_and_runs_nightly(airflow_db, model_dags_folder, s3, sm, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from include.pipeline.champion import read_history
    from include.pipeline.ingest import land
    from include.pipeline.spec import load_spec

    files = guide_files()
    assert set(files) == {
        "include/models/weather_temp.yaml",
        "training_scripts/weather_temp/train.py",
        "dags/weather_temp.py",
    }
    before = tracked_changes()
    home = model_dags_folder / "weather"  # the user's project: the guide's paths, under a folder of the test's
    script = home / "training_scripts" / "weather_temp" / "train.py"
    script.parent.mkdir(parents=True)
    script.write_text(files["training_scripts/weather_temp/train.py"])
    spec_values = yaml.safe_load(files["include/models/weather_temp.yaml"])
    spec_values["algorithm"]["source_dir"] = str(script.parent)  # relative paths are the project root's
    spec_file = home / "include" / "models" / "weather_temp.yaml"
    spec_file.parent.mkdir(parents=True)
    spec_file.write_text(yaml.safe_dump(spec_values, sort_keys=False))
    dag_source = files["dags/weather_temp.py"]
    written = 'Path(__file__).parents[1] / "include" / "models" / "weather_temp.yaml"'
    assert written in dag_source
    dag_file = model_dags_folder / "weather_temp.py"
    dag_file.write_text(dag_source.replace(written, repr(str(spec_file))))

    bag = DagBag(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"weather_temp_nightly", "weather_temp_on_new_data", "weather_temp_ingest"}

    spec = load_spec(spec_file)
    land(s3, BUCKET, spec, spec.data.first_day, spec.data.first_day.replace(day=12))
    monkeypatch.setenv("AIRFLOW_VAR_HPO_BUCKET", BUCKET)
    monkeypatch.setenv("AIRFLOW_VAR_HPO_POLL_SECONDS", "1")
    conf = {"max_jobs": 2, "training_window_days": 7, "validation_days": 2}
    dagrun = bag.dags["weather_temp_nightly"].test(logical_date=None, run_conf=conf)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert dagrun.state == "success", states
    assert states["smoke_test"] == "success" and states["report"] == "success"

    [record] = read_history(s3, BUCKET, spec.history_prefix)
    assert spec.history_prefix == "models/weather_temp/champion/history"
    assert record["holdout_date"] == "2013-01-12" and record["metric"] == "rmse" and record["deployed"] is True
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=record["tuning_job_name"])
    assert tuning["HyperParameterTuningJobName"].startswith("weather-temp-")
    image = tuning["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    assert "sagemaker-scikit-learn:1.2-1" in image
    assert sm.describe_endpoint(EndpointName="weather-temp")["EndpointStatus"] == "InService"
    assert tracked_changes() == before  # no file of the project was changed to add the model
