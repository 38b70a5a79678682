"""include.pipeline.champion: scoring, loading models through their own training script, the S3 history.

Real models: training_scripts/flight_delay/train.py runs in a subprocess on a few January 2013 days, its model.tar.gz
and sourcedir.tar.gz go to the local SageMaker's S3, and evaluate() reads them back from there.
"""

from __future__ import annotations

import datetime
import io
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.local_sagemaker import upload_source
from include.archives import UnsafeArchive, make_tar_gz
from include.pipeline import champion
from include.pipeline.champion import (
    evaluate,
    load_model,
    read_history,
    record_key,
    update_record,
    write_record,
)
from include.pipeline.data import feature_matrix, training_channel
from tests.specs import FLIGHT
from tests.specs import flight_rows as rows_of

LABEL_COLUMN = FLIGHT.data.label.column

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "training_scripts" / "flight_delay" / "train.py"
HOLDOUT_DATE = "2013-01-05"


def _day(day: int) -> datetime.date:
    return datetime.date(2013, 1, day)


def _prefix(name: str) -> str:
    return f"champion-tests/{name}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def flight_rows() -> dict[str, pd.DataFrame]:
    """Train on 2013-01-01..03, validate on 01-04, hold out 01-05 (~700 rows, ~13 % delayed)."""
    spans = {"train": (1, 3), "validation": (4, 4), "holdout": (5, 5)}
    return {name: rows_of(_day(first), _day(last)) for name, (first, last) in spans.items()}


def _train(workdir: Path, train_rows: pd.DataFrame, validation_rows: pd.DataFrame, args: list[str]) -> Path:
    """Run train.py as a training job would and return its model directory."""
    for channel, rows in (("train", train_rows), ("validation", validation_rows)):
        (workdir / channel).mkdir(parents=True)
        (workdir / channel / "data.csv").write_bytes(training_channel(FLIGHT, rows))
    env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")} | {
        "SM_CHANNEL_TRAIN": str(workdir / "train"),
        "SM_CHANNEL_VALIDATION": str(workdir / "validation"),
        "SM_MODEL_DIR": str(workdir / "model"),
        "SM_OUTPUT_DATA_DIR": str(workdir / "output"),
        "SM_CHECKPOINT_DIR": str(workdir / "checkpoints"),
    }
    completed = subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return workdir / "model"


@pytest.fixture(scope="module")
def code_uri(s3: Any, bucket: str) -> str:
    return upload_source(s3, bucket, {"train.py": TRAIN_SCRIPT}, f"{_prefix('code')}/sourcedir.tar.gz")


@pytest.fixture(scope="module")
def models(
    tmp_path_factory: pytest.TempPathFactory,
    s3: Any,
    bucket: str,
    code_uri: str,
    flight_rows: dict[str, pd.DataFrame],
) -> dict[str, dict[str, Any]]:
    """A strong model (20 rounds, ~2,700 rows) and a weak one (1 stump on 150 rows), uploaded as challenger dicts."""
    recipes = {
        "strong": (flight_rows["train"], ["--num_round", "20", "--max_depth", "4"]),
        "weak": (flight_rows["train"].head(150), ["--num_round", "1", "--max_depth", "1"]),
    }
    uploaded = {}
    for name, (train_rows, args) in recipes.items():
        workdir = tmp_path_factory.mktemp(f"train-{name}")
        model_dir = _train(workdir, train_rows, flight_rows["validation"], args)
        key = f"{_prefix(name)}/output/model.tar.gz"
        s3.upload_file(str(make_tar_gz(model_dir, workdir / "model.tar.gz")), bucket, key)
        uploaded[name] = {
            "tuning_job_name": f"tune-{name}",
            "training_job_name": f"tune-{name}-001",
            "model_artifact": f"s3://{bucket}/{key}",
            "code_uri": code_uri,
            "model_dir": model_dir,
        }
    return uploaded


def _challenger(model: dict[str, Any]) -> dict[str, Any]:
    return {key: model[key] for key in (*champion.CHALLENGER_KEYS, "code_uri")}


def _history(prefix: str) -> str:
    """Where the champion history of a model stored under prefix lives."""
    return f"{prefix}/champion/history"


def _evaluate(
    s3: Any,
    bucket: str,
    prefix: str,
    model: dict[str, Any],
    holdout: pd.DataFrame,
    tmp_path: Path,
    *,
    run_id: str,
    live: bool = True,
    margin: float = 0.0,
    holdout_date: str = HOLDOUT_DATE,
) -> dict[str, Any]:
    evaluation = evaluate(
        s3,
        FLIGHT.model_copy(update={"storage_prefix": prefix}),
        bucket=bucket,
        challenger=_challenger(model),
        holdout_rows=holdout,
        run_id=run_id,
        dag_id="hpo_nightly",
        holdout_date=holdout_date,
        live=live,
        margin=margin,
        workdir=tmp_path / run_id,
    )
    assert champion.Evaluation.from_xcom(evaluation.to_xcom()) == evaluation  # what tasks pass as XCom
    return evaluation.to_xcom()


def _seed_record(
    s3: Any,
    bucket: str,
    prefix: str,
    model: dict[str, Any],
    *,
    run_id: str,
    holdout_date: str = "2013-01-04",
    **fields: Any,
) -> dict[str, Any]:
    """A history record as an earlier run would have left it, without evaluating anything."""
    key = record_key(_history(prefix), holdout_date, run_id)
    record = {
        **_challenger(model),
        "run_id": run_id,
        "holdout_date": holdout_date,
        "evaluated_at": f"{holdout_date}T06:00:00.000000+00:00",
        "winner": "challenger",
        "deployed": False,
        "record_key": key,
        **fields,
    }
    write_record(s3, bucket, key, record)
    return record


# ------------------------------------------------------------------------------------------- load_model


def test_load_model_predicts_like_xgboost_directly(
    s3: Any, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    import xgboost as xgb

    modules, path = set(sys.modules), list(sys.path)
    model = models["strong"]
    scorer = load_model(s3, model["model_artifact"], model["code_uri"], tmp_path)
    features = feature_matrix(FLIGHT, flight_rows["holdout"]).to_numpy(dtype="float64")
    probabilities = scorer.predict(features)

    booster = xgb.Booster(model_file=str(model["model_dir"] / "xgboost-model.json"))
    np.testing.assert_array_equal(probabilities, booster.predict(xgb.DMatrix(features, missing=np.nan)))
    assert probabilities.shape == (len(features),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert not [name for name in set(sys.modules) - modules if name.startswith("_evaluated_")]
    assert sys.path == path


FAKE_SCRIPT = b"""
import numpy as np
def model_fn(model_dir):
    return 0.25
def predict_fn(input_data, model):
    return np.full(len(input_data), model)
"""


def test_load_model_uses_the_only_top_level_script_when_there_is_no_train_py(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    code = upload_source(s3, bucket, {"predictor.py": FAKE_SCRIPT, "lib/helper.py": b""}, f"{_prefix('one')}/s.tar.gz")
    scorer = load_model(s3, models["weak"]["model_artifact"], code, tmp_path)
    np.testing.assert_array_equal(scorer.predict(np.zeros((3, 2))), [0.25, 0.25, 0.25])

    ambiguous = upload_source(s3, bucket, {"a.py": FAKE_SCRIPT, "b.py": FAKE_SCRIPT}, f"{_prefix('two')}/s.tar.gz")
    with pytest.raises(ValueError, match="no train.py and not exactly one.*'a.py', 'b.py'"):
        load_model(s3, models["weak"]["model_artifact"], ambiguous, tmp_path)


def test_load_model_refuses_an_archive_that_climbs_out_before_importing_anything(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    marker = tmp_path / "imported"
    script = f"open({str(marker)!r}, 'w').close()\n".encode() + FAKE_SCRIPT
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("train.py", script), ("../escape.py", b"pass")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    key = f"{_prefix('evil')}/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    with pytest.raises(UnsafeArchive, match=r"refusing s3://.*'\.\./escape\.py'"):
        load_model(s3, models["weak"]["model_artifact"], f"s3://{bucket}/{key}", tmp_path / "work")
    assert not marker.exists()
    assert not list(tmp_path.rglob("*.py"))


def test_load_model_names_a_missing_archive(s3: Any, bucket: str, code_uri: str, tmp_path: Path) -> None:
    missing = f"s3://{bucket}/{_prefix('missing')}/model.tar.gz"
    with pytest.raises(FileNotFoundError, match=missing):
        load_model(s3, missing, code_uri, tmp_path)


def test_history_is_sorted_and_update_record_merges(s3: Any, bucket: str, models: dict[str, dict[str, Any]]) -> None:
    prefix = _prefix("history")
    later = _seed_record(s3, bucket, prefix, models["strong"], run_id="b", holdout_date="2013-01-04")
    earlier = _seed_record(s3, bucket, prefix, models["weak"], run_id="a", holdout_date="2013-01-03")
    same_day = _seed_record(
        s3,
        bucket,
        prefix,
        models["weak"],
        run_id="c",
        holdout_date="2013-01-04",
        evaluated_at="2013-01-04T07:00:00.000000+00:00",
    )
    assert read_history(s3, bucket, _history(prefix)) == [earlier, later, same_day]

    updated = update_record(s3, bucket, later["record_key"], deployed=True, endpoint_name="flights")
    assert updated == {**later, "deployed": True, "endpoint_name": "flights"}
    assert read_history(s3, bucket, _history(prefix))[1] == updated
    assert read_history(s3, bucket, _history(_prefix("empty"))) == []


def test_a_malformed_history_object_is_named(s3: Any, bucket: str, models: dict[str, dict[str, Any]]) -> None:
    prefix = _prefix("malformed")
    _seed_record(s3, bucket, prefix, models["strong"], run_id="fine")
    for name, body in (("text", b"not json"), ("list", b"[1, 2]"), ("undated", b'{"run_id": "x"}')):
        key = f"{_history(prefix)}/2013-01-04/{name}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        with pytest.raises(ValueError, match=f"s3://{bucket}/{key}"):
            read_history(s3, bucket, _history(prefix))
        s3.delete_object(Bucket=bucket, Key=key)


# ------------------------------------------------------------------------------------------- evaluate


def test_first_evaluation_without_a_champion_is_won_by_the_challenger(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    prefix = _prefix("first")
    holdout = flight_rows["holdout"]
    record = _evaluate(s3, bucket, prefix, models["strong"], holdout, tmp_path, run_id="scheduled__2013-01-05")

    assert record["winner"] == "challenger"
    assert "no champion" in record["reason"]
    assert record["champion_score"] is record["champion_metrics"] is record["champion_training_job"] is None
    assert (record["rows"], record["positives"]) == (len(holdout), int(holdout[LABEL_COLUMN].sum()))
    assert record["metric"] == "auc" and record["direction"] == "Maximize" and record["model"] == "flight_delay"
    assert 0.55 < record["challenger_score"] == record["challenger_metrics"]["auc"] < 1
    assert record["challenger_metrics"]["log_loss"] > 0
    assert record["deployed"] is False and record["live"] is True and record["margin"] == 0.0
    assert record["training_job_name"] == "tune-strong-001" and record["dag_id"] == "hpo_nightly"
    assert record["record_key"] == record_key(_history(prefix), HOLDOUT_DATE, "scheduled__2013-01-05")
    assert read_history(s3, bucket, _history(prefix)) == [record]


def test_a_deployed_champion_beats_a_weaker_challenger(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    prefix = _prefix("weaker")
    _seed_record(s3, bucket, prefix, models["strong"], run_id="yesterday", deployed=True)
    record = _evaluate(s3, bucket, prefix, models["weak"], flight_rows["holdout"], tmp_path, run_id="today")

    assert record["winner"] == "champion"
    assert record["champion_training_job"] == "tune-strong-001"
    assert record["champion_model_artifact"] == models["strong"]["model_artifact"]
    assert record["champion_score"] > record["challenger_score"]
    assert record["reason"].startswith(
        f"challenger auc {record['challenger_score']:.4f} against champion {record['champion_score']:.4f}"
    )
    assert record["gain_high"] < 0 and record["reason"].endswith("the champion stays")


@pytest.mark.parametrize(("margin", "winner"), [(0.0, "champion"), (0.01, "champion"), (-0.001, "challenger")])
def test_identical_models_never_win_unless_the_margin_is_negative(
    margin: float,
    winner: str,
    s3: Any,
    bucket: str,
    models: dict[str, dict[str, Any]],
    flight_rows: dict[str, pd.DataFrame],
    tmp_path: Path,
) -> None:
    prefix = _prefix("margin")
    _seed_record(s3, bucket, prefix, models["strong"], run_id="yesterday", deployed=True)
    record = _evaluate(
        s3, bucket, prefix, models["strong"], flight_rows["holdout"], tmp_path, run_id="today", margin=margin
    )

    assert record["challenger_score"] == record["champion_score"]
    assert (record["gain"], record["gain_low"], record["gain_high"]) == (0.0, 0.0, 0.0)
    assert record["winner"] == winner
    assert f"margin {margin:.4f}" in record["reason"]


def test_the_record_carries_the_paired_comparison(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    """Both models scored on the same held-out rows: DeLong's interval of the AUC gain, at the spec's confidence."""
    from include.pipeline.comparison import compare
    from include.pipeline.scoring import METRICS

    prefix = _prefix("paired")
    _seed_record(s3, bucket, prefix, models["weak"], run_id="yesterday", deployed=True)
    record = _evaluate(s3, bucket, prefix, models["strong"], flight_rows["holdout"], tmp_path, run_id="today")

    assert record["comparison_method"] == "DeLong" and record["confidence"] == 0.9
    assert record["gain"] == pytest.approx(record["challenger_score"] - record["champion_score"])
    assert record["gain_low"] < record["gain"] < record["gain_high"]
    assert record["winner"] == ("challenger" if record["gain_low"] > record["margin"] else "champion")
    labels = flight_rows["holdout"][LABEL_COLUMN].to_numpy()
    features = feature_matrix(FLIGHT, flight_rows["holdout"]).to_numpy(dtype="float64")
    strong, weak = (
        load_model(s3, models[name]["model_artifact"], models[name]["code_uri"], tmp_path / name).predict(features)
        for name in ("strong", "weak")
    )
    again = compare(METRICS["auc"], labels, strong, weak, 0.9)
    assert (again.gain, again.low, again.high) == pytest.approx(
        (record["gain"], record["gain_low"], record["gain_high"])
    )
    assert f"[{record['gain_low']:+.4f}, {record['gain_high']:+.4f}]" in record["reason"]


def test_a_backfill_sees_no_champion_from_its_own_day_or_later(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    prefix = _prefix("backfill")
    for date in (HOLDOUT_DATE, "2013-01-06"):
        _seed_record(s3, bucket, prefix, models["strong"], run_id=f"later-{date}", holdout_date=date, deployed=True)
    _seed_record(s3, bucket, prefix, models["strong"], run_id="lost", holdout_date="2013-01-04", winner="champion")
    record = _evaluate(
        s3, bucket, prefix, models["weak"], flight_rows["holdout"], tmp_path, run_id="backfill__2013-01-05", live=False
    )
    assert record["winner"] == "challenger" and record["reason"] == "no champion yet"

    _seed_record(s3, bucket, prefix, models["strong"], run_id="won", holdout_date="2013-01-03")
    record = _evaluate(
        s3, bucket, prefix, models["weak"], flight_rows["holdout"], tmp_path, run_id="backfill__2013-01-05", live=False
    )
    assert record["winner"] == "champion" and record["champion_training_job"] == "tune-strong-001"


def test_a_retried_evaluate_overwrites_its_own_record(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    prefix = _prefix("retry")
    first = _evaluate(s3, bucket, prefix, models["strong"], flight_rows["holdout"], tmp_path, run_id="run-1")
    # Even after its model was deployed, a re-run must not take its own challenger for the champion.
    update_record(s3, bucket, first["record_key"], deployed=True)
    again = _evaluate(
        s3, bucket, prefix, models["strong"], flight_rows["holdout"], tmp_path, run_id="run-1", margin=0.01
    )

    assert again["record_key"] == first["record_key"]
    assert again["evaluated_at"] > first["evaluated_at"]
    assert again["winner"] == "challenger" and again["reason"] == "no champion yet"
    assert read_history(s3, bucket, _history(prefix)) == [again]


def test_evaluate_refuses_an_empty_holdout_naming_the_day(
    s3: Any, bucket: str, models: dict[str, dict[str, Any]], flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    empty = flight_rows["holdout"].head(0)
    with pytest.raises(ValueError, match=f"no holdout rows for {HOLDOUT_DATE}"):
        _evaluate(s3, bucket, _prefix("empty"), models["strong"], empty, tmp_path, run_id="run")
    with pytest.raises(ValueError, match="margin must be a finite number"):
        _evaluate(
            s3,
            bucket,
            _prefix("margin"),
            models["strong"],
            flight_rows["holdout"],
            tmp_path,
            run_id="run",
            margin=float("nan"),
        )


def test_a_built_in_algorithm_model_is_loaded_and_scored_as_its_server_does(
    s3: Any, bucket: str, flight_rows: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    import xgboost as xgb

    features = feature_matrix(FLIGHT, flight_rows["train"]).to_numpy(dtype="float64")
    labels = flight_rows["train"][LABEL_COLUMN].to_numpy()
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(features, label=labels), 5)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(booster.save_raw("json"))  # what the built-in algorithm writes
    key = f"{_prefix('builtin')}/model.tar.gz"
    s3.upload_file(str(make_tar_gz(model_dir, tmp_path / "model.tar.gz")), bucket, key)

    scorer = load_model(s3, f"s3://{bucket}/{key}", None, tmp_path / "work")
    np.testing.assert_allclose(scorer.predict(features[:50]), booster.predict(xgb.DMatrix(features[:50])), rtol=1e-6)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no model here")
    s3.upload_file(str(make_tar_gz(empty, tmp_path / "empty.tar.gz")), bucket, f"{key}.empty")
    with pytest.raises(FileNotFoundError, match="holds no xgboost-model"):
        load_model(s3, f"s3://{bucket}/{key}.empty", None, tmp_path / "work")
