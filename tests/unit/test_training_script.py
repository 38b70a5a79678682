"""training_scripts/flight_delay/train.py run for real, as SageMaker runs it: a subprocess on an /opt/ml-like layout."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from include.pipeline.data import feature_matrix, training_channel
from tests.specs import FLIGHT, FLIGHT_METRIC_DEFINITIONS, flight_rows

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"
ROUND_LINE = re.compile(r"^\[(\d+)\] ")


def _load_training_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flight_delay_train", TRAIN_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train = _load_training_module()


def _day(offset: int) -> datetime.date:
    return datetime.date(2013, 1, 1) + datetime.timedelta(days=offset)


@pytest.fixture(scope="module")
def validation_rows() -> pd.DataFrame:
    return flight_rows(_day(2), _day(2))


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory, validation_rows: pd.DataFrame) -> dict[str, Path]:
    """Train on 2013-01-01..02 (one file per day, as the pipeline may write), validate on 2013-01-03."""
    root = tmp_path_factory.mktemp("input")
    train_dir, validation_dir = root / "train", root / "validation"
    train_dir.mkdir()
    validation_dir.mkdir()
    for offset in (0, 1):
        rows = flight_rows(_day(offset), _day(offset))
        (train_dir / f"{_day(offset)}.csv").write_bytes(training_channel(FLIGHT, rows))
    (validation_dir / "data.csv").write_bytes(training_channel(FLIGHT, validation_rows))
    return {"train": train_dir, "validation": validation_dir}


def run_training(args: list[str], **paths: Path | None) -> subprocess.CompletedProcess[str]:
    """Run train.py with SM_* variables for the given paths only (None leaves a variable unset)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
    names = {
        "train": "SM_CHANNEL_TRAIN",
        "validation": "SM_CHANNEL_VALIDATION",
        "model": "SM_MODEL_DIR",
        "output": "SM_OUTPUT_DATA_DIR",
        "checkpoints": "SM_CHECKPOINT_DIR",
    }
    env.update({names[key]: str(path) for key, path in paths.items() if path is not None})
    return subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def round_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if ROUND_LINE.match(line)]


def round_numbers(stdout: str) -> list[int]:
    return [int(ROUND_LINE.match(line).group(1)) for line in round_lines(stdout)]


def checkpoint_rounds(directory: Path) -> set[int]:
    return {int(path.name.split(".")[1]) for path in directory.glob("xgboost-checkpoint.*.json")}


def metric_value(line: str, name: str) -> float:
    definition = next(item for item in train.METRIC_DEFINITIONS if item["Name"] == name)
    match = re.search(definition["Regex"], line)
    assert match, f"{name} regex does not match {line!r}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, channels: dict[str, Path]) -> dict[str, Any]:
    job = tmp_path_factory.mktemp("job")
    completed = run_training(
        # The last two are what SageMaker adds for tuning jobs and script mode; they must be ignored.
        ["--num_round", "12", "--max_depth", "3", "--checkpoint_frequency", "5"]
        + ["--_tuning_objective_metric", "validation:auc", "--sagemaker_program", "train.py"],
        train=channels["train"],
        validation=channels["validation"],
        model=job / "model",
        output=job / "output",
        checkpoints=job / "checkpoints",
    )
    # Snapshot now: the resume test adds checkpoints to the same directory later.
    return {
        "completed": completed,
        "job": job,
        "channels": channels,
        "checkpoints": checkpoint_rounds(job / "checkpoints"),
    }


def test_metric_definitions_match_the_pipeline_copy() -> None:
    assert train.METRIC_DEFINITIONS == FLIGHT_METRIC_DEFINITIONS


def test_training_prints_one_metric_line_per_round(first_run: dict[str, Any]) -> None:
    completed = first_run["completed"]
    assert completed.returncode == 0, completed.stderr
    assert round_numbers(completed.stdout) == list(range(1, 13))
    for line in round_lines(completed.stdout):
        for definition in FLIGHT_METRIC_DEFINITIONS:
            assert len(re.findall(definition["Regex"], line)) == 1, (definition, line)
    last = round_lines(completed.stdout)[-1]
    assert 0.5 < metric_value(last, "validation:auc") < 1.0
    assert 0.5 < metric_value(last, "train:auc") <= 1.0
    assert metric_value(last, "validation:logloss") > 0


def test_training_writes_model_metrics_and_pruned_checkpoints(first_run: dict[str, Any]) -> None:
    job = first_run["job"]
    assert first_run["checkpoints"] == {5, 10}
    model = train.model_fn(str(job / "model"))
    assert model.num_boosted_rounds() == 12
    summary = json.loads((job / "output" / "metrics.json").read_text())
    assert summary["rounds"] == 12
    last = round_lines(first_run["completed"].stdout)[-1]
    for name in ("train:auc", "validation:auc", "validation:logloss"):
        assert summary["metrics"][name] == pytest.approx(metric_value(last, name), abs=1e-6)


def test_restart_resumes_from_the_newest_checkpoint(first_run: dict[str, Any], tmp_path: Path) -> None:
    checkpoints = first_run["job"] / "checkpoints"
    channels = first_run["channels"]
    first_lines = round_lines(first_run["completed"].stdout)
    completed = run_training(
        ["--num_round", "20", "--max_depth", "3", "--checkpoint_frequency", "5"],
        train=channels["train"],
        validation=channels["validation"],
        model=tmp_path / "model",
        output=tmp_path / "output",
        checkpoints=checkpoints,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Resuming from checkpoint xgboost-checkpoint.10.json at round 10" in completed.stdout
    assert round_numbers(completed.stdout) == list(range(11, 21))
    # Same data and parameters: rounds 11 and 12 come out exactly as in the uninterrupted first run.
    assert round_lines(completed.stdout)[:2] == first_lines[10:12]
    assert train.model_fn(str(tmp_path / "model")).num_boosted_rounds() == 20
    assert checkpoint_rounds(checkpoints) == {10, 15, 20}
    assert not [path for path in checkpoints.iterdir() if path.name.endswith(".tmp")]


def test_training_without_validation_channel_reports_train_metrics(channels: dict[str, Path], tmp_path: Path) -> None:
    completed = run_training(
        ["--num_round", "2", "--max_depth", "2"],
        train=channels["train"],
        model=tmp_path / "model",
        output=tmp_path / "output",
        checkpoints=tmp_path / "checkpoints",
    )
    assert completed.returncode == 0, completed.stderr
    assert round_lines(completed.stdout)[-1].startswith("[2] train:auc=")
    assert "validation:" not in completed.stdout
    assert set(json.loads((tmp_path / "output" / "metrics.json").read_text())["metrics"]) == {
        "train:auc",
        "train:logloss",
    }


@pytest.mark.parametrize("empty_channel", ["train", "validation"])
def test_channel_without_csv_fails_naming_it(empty_channel: str, channels: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / f"empty-{empty_channel}"
    empty.mkdir()
    (empty / "README.txt").write_text("not a csv")
    paths = {**channels, empty_channel: empty}
    completed = run_training(
        ["--num_round", "2"],
        train=paths["train"],
        validation=paths["validation"],
        model=tmp_path / "model",
        output=tmp_path / "output",
        checkpoints=tmp_path / "checkpoints",
    )
    assert completed.returncode != 0
    assert f"channel '{empty_channel}'" in completed.stderr
    assert str(empty) in completed.stderr
    assert not (tmp_path / "model").exists()


def test_hyperparameters_arrive_as_strings_and_unknown_ones_are_ignored() -> None:
    args = train.parse_hyperparameters(
        ["--max_depth", "5.0", "--eta", "0.2", "--lambda", "3", "--sagemaker_region", "us-east-1"]
        + ["--eval_metric", "auc"]
    )
    assert (args.max_depth, args.eta, args.lambda_, args.num_round) == (5, 0.2, 3.0, 50)
    assert args.eval_metric == ["auc"]
    assert train.parse_hyperparameters([]).eval_metric == ["auc", "logloss"]
    with pytest.raises(SystemExit):
        train.parse_hyperparameters(["--max_depth", "2.5"])


# ------------------------------------------------------------------------------------ inference functions


@pytest.fixture(scope="module")
def model(first_run: dict[str, Any]) -> Any:
    assert first_run["completed"].returncode == 0, first_run["completed"].stderr
    return train.model_fn(str(first_run["job"] / "model"))


@pytest.fixture(scope="module")
def features(validation_rows: pd.DataFrame) -> pd.DataFrame:
    return feature_matrix(FLIGHT, validation_rows.head(25))


def test_csv_request_round_trip(model: Any, features: pd.DataFrame) -> None:
    body = features.to_csv(header=False, index=False)
    parsed = train.input_fn(body, "text/csv")
    np.testing.assert_array_equal(parsed, features.to_numpy())
    np.testing.assert_array_equal(train.input_fn(body.encode(), "text/csv; charset=utf-8"), parsed)

    probabilities = train.predict_fn(parsed, model)
    assert probabilities.shape == (len(features),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    # Offline evaluation passes the DataFrame itself: same code path, same numbers.
    np.testing.assert_array_equal(train.predict_fn(features, model), probabilities)

    response = train.output_fn(probabilities, "text/csv")
    assert isinstance(response, str)
    lines = response.splitlines()
    assert len(lines) == len(features)
    np.testing.assert_allclose([float(line) for line in lines], probabilities)


def test_json_requests(model: Any, features: pd.DataFrame) -> None:
    rows = [[None if np.isnan(value) else value for value in row] for row in features.to_numpy().tolist()]
    expected = train.predict_fn(features, model)

    instances = train.input_fn(json.dumps({"instances": rows}), "application/json")
    np.testing.assert_array_equal(instances, features.to_numpy())
    bare = train.input_fn(json.dumps(rows).encode(), "application/json")
    np.testing.assert_array_equal(bare, instances)
    single = train.input_fn(json.dumps(rows[0]), "application/json")
    assert single.shape == (1, len(FLIGHT.data.features))

    response = json.loads(train.output_fn(train.predict_fn(instances, model), "application/json"))
    np.testing.assert_allclose(response["predictions"], expected)
    assert train.output_fn(expected[:1], None).count("\n") == 1  # text/csv by default


def test_bad_requests_raise_value_error(model: Any, features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="application/x-npy"):
        train.input_fn(b"\x93NUMPY", "application/x-npy")
    with pytest.raises(ValueError, match="text/html"):
        train.output_fn(np.array([0.5]), "text/html")
    with pytest.raises(ValueError, match="features"):
        train.predict_fn(features.to_numpy()[:, :-1], model)
    with pytest.raises(ValueError):
        train.input_fn(json.dumps({"instances": [[1, 2], [3]]}), "application/json")
