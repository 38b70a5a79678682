"""XGBoost flight-delay classifier in SageMaker script mode, plus its inference functions.

Runs unchanged in AWS's `sagemaker-xgboost:1.7-1` container and locally with xgboost 3.x, so it uses only
APIs present in both (xgb.train, DMatrix, TrainingCallback, Booster JSON save/load) and imports nothing
from the project outside training_scripts/.

Inputs (SageMaker's conventions; the local SageMaker maps the same variables to a job directory):
  SM_CHANNEL_TRAIN        every *.csv in it, sorted. Default /opt/ml/input/data/train.
  SM_CHANNEL_VALIDATION   optional; without it only train metrics are reported.
  SM_MODEL_DIR            xgboost-model.json is written here. Default /opt/ml/model.
  SM_OUTPUT_DATA_DIR      metrics.json is written here. Default /opt/ml/output/data.
  SM_CHECKPOINT_DIR       xgboost-checkpoint.<round>.json, which CheckpointConfig syncs to S3.
                          Default /opt/ml/checkpoints.
CSV rows are `label,feature_1,...,feature_n` with no header and empty fields for missing values, which is
what include/pipeline/data.py:to_training_csv writes; the features are its FEATURE_COLUMNS, encoded.

Hyperparameters arrive as strings (`--max_depth 5 --eta 0.2`). Unknown ones, such as those SageMaker adds
(`--sagemaker_program`, `--_tuning_objective_metric`), are ignored.

Metric log format: after every boosting round exactly one line

    [12] train:auc=0.812345; train:logloss=0.410000; validation:auc=0.791234; validation:logloss=0.430000;

where the bracketed number is the count of rounds completed (1-based, continuing across checkpoint resumes),
followed by `<data>:<metric>=<value>;` for each data set and eval metric. METRIC_DEFINITIONS holds the
regexes a training job or tuning job should use; each has one capture group, the value.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

METRIC_DEFINITIONS = [
    {"Name": "train:auc", "Regex": r"train:auc=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {"Name": "train:logloss", "Regex": r"train:logloss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {"Name": "validation:auc", "Regex": r"validation:auc=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);"},
    {
        "Name": "validation:logloss",
        "Regex": r"validation:logloss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?);",
    },
]

MODEL_FILENAME = "xgboost-model.json"
METRICS_FILENAME = "metrics.json"
CHECKPOINT_PATTERN = re.compile(r"^xgboost-checkpoint\.(\d+)\.json$")
CHECKPOINTS_KEPT = 3
SUPPORTED_CONTENT_TYPES = ("text/csv", "application/json")


class ChannelDataError(Exception):
    """A channel is missing or holds no usable CSV data."""


# ---------------------------------------------------------------------------------------------- training


def _integer(text: str) -> int:
    # Tuners may render integer hyperparameters as "5.0"; accept that, but never silently truncate 5.5.
    value = float(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    return int(value)


def parse_hyperparameters(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the flight-delay XGBoost model.")
    parser.add_argument("--num_round", type=_integer, default=50)
    parser.add_argument("--max_depth", type=_integer, default=6)
    parser.add_argument("--eta", type=float, default=0.3)
    parser.add_argument("--min_child_weight", type=float, default=1.0)
    parser.add_argument("--subsample", type=float, default=1.0)
    parser.add_argument("--colsample_bytree", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.0)
    parser.add_argument("--alpha", type=float, default=0.0)
    parser.add_argument("--lambda", dest="lambda_", metavar="LAMBDA", type=float, default=1.0)
    parser.add_argument("--scale_pos_weight", type=float, default=1.0)
    parser.add_argument("--seed", type=_integer, default=0)
    parser.add_argument("--checkpoint_frequency", type=_integer, default=5, help="rounds; 0 disables")
    parser.add_argument("--early_stopping_rounds", type=_integer, default=0, help="0 disables")
    parser.add_argument("--eval_metric", default="auc,logloss", help="comma-separated; the first one stops early")
    args, _unknown = parser.parse_known_args(argv)
    args.eval_metric = [name.strip() for name in args.eval_metric.split(",") if name.strip()]
    if args.num_round < 1:
        parser.error("--num_round must be at least 1")
    if not args.eval_metric:
        parser.error("--eval_metric names no metric")
    return args


def booster_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        # hist exists in 1.7 and is the 2.x+ default: the same algorithm in the container and locally.
        "tree_method": "hist",
        "max_depth": args.max_depth,
        "eta": args.eta,
        "min_child_weight": args.min_child_weight,
        "subsample": args.subsample,
        "colsample_bytree": args.colsample_bytree,
        "gamma": args.gamma,
        "alpha": args.alpha,
        "lambda": args.lambda_,
        "scale_pos_weight": args.scale_pos_weight,
        "seed": args.seed,
        "eval_metric": args.eval_metric,
    }


def _read_csv_rows(source: Any) -> pd.DataFrame:
    # Training and text/csv serving share this parser, so the same bytes always become the same features.
    return pd.read_csv(source, header=None, dtype="float64")


def load_channel(name: str, directory: str) -> xgb.DMatrix:
    """All *.csv files of one channel as a DMatrix (label = first column)."""
    path = Path(directory)
    files = sorted(path.glob("*.csv")) if path.is_dir() else []
    frames = [_read_csv_rows(file) for file in files if file.stat().st_size > 0]
    if not frames:
        raise ChannelDataError(f"channel {name!r} has no CSV data in {directory}")
    widths = {frame.shape[1] for frame in frames}
    if len(widths) != 1:
        raise ChannelDataError(f"channel {name!r}: CSV files in {directory} differ in column count {widths}")
    table = pd.concat(frames, ignore_index=True)
    if table.shape[1] < 2:
        raise ChannelDataError(f"channel {name!r}: rows need a label and at least one feature")
    return xgb.DMatrix(table.iloc[:, 1:].to_numpy(), label=table.iloc[:, 0].to_numpy(), missing=np.nan)


def _checkpoint_path(directory: Path, round_number: int) -> Path:
    return directory / f"xgboost-checkpoint.{round_number}.json"


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(round, path) of every checkpoint file, newest first."""
    found = []
    for path in directory.glob("xgboost-checkpoint.*.json"):
        match = CHECKPOINT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def latest_checkpoint(directory: Path, max_round: int) -> tuple[xgb.Booster, Path] | None:
    """The newest checkpoint that loads and is not beyond this job's num_round."""
    for round_number, path in _checkpoints(directory):
        if round_number > max_round:
            continue
        try:
            booster = xgb.Booster(model_file=str(path))
        except xgb.core.XGBoostError as error:
            print(f"Skipping unreadable checkpoint {path.name}: {error}", flush=True)
            continue
        if booster.num_boosted_rounds() == round_number:
            return booster, path
        print(f"Skipping checkpoint {path.name}: it holds {booster.num_boosted_rounds()} rounds", flush=True)
    return None


def save_checkpoint(booster: xgb.Booster, directory: Path, round_number: int) -> None:
    """Write atomically, then prune: a spot interruption mid-write must not leave a torn newest file."""
    final = _checkpoint_path(directory, round_number)
    temporary = directory / f".{final.name}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(booster.save_raw(raw_format="json"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    for _round, stale in _checkpoints(directory)[CHECKPOINTS_KEPT:]:
        stale.unlink(missing_ok=True)


def format_metric_line(round_number: int, metrics: dict[str, float]) -> str:
    pairs = " ".join(f"{name}={value:.6f};" for name, value in metrics.items())
    return f"[{round_number}] {pairs}"


class RoundReporter(xgb.callback.TrainingCallback):
    """Prints the metric line of each round and checkpoints every `frequency` rounds.

    xgb.train restarts `epoch` at 0 when continuing from a checkpoint, so `rounds_before` carries the
    number of rounds the resumed model already has.
    """

    def __init__(self, rounds_before: int, checkpoint_dir: Path | None, frequency: int) -> None:
        super().__init__()
        self.rounds_before = rounds_before
        self.checkpoint_dir = checkpoint_dir
        self.frequency = frequency

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        round_number = self.rounds_before + epoch + 1
        metrics = {
            f"{data}:{metric}": float(history[-1])
            for data, by_metric in evals_log.items()
            for metric, history in by_metric.items()
        }
        print(format_metric_line(round_number, metrics), flush=True)
        if self.checkpoint_dir is not None and self.frequency > 0 and round_number % self.frequency == 0:
            save_checkpoint(model, self.checkpoint_dir, round_number)
        return False


def evaluate(booster: xgb.Booster, evals: list[tuple[xgb.DMatrix, str]]) -> dict[str, float]:
    """Metrics of the booster as it is, parsed from xgboost's `[i]\\tdata-metric:value` eval string."""
    if not evals:
        return {}
    metrics = {}
    for field in booster.eval_set(evals).split("\t")[1:]:
        name, value = field.rsplit(":", 1)
        data, metric = name.split("-", 1)
        metrics[f"{data}:{metric}"] = float(value)
    return metrics


def train(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    train_dir = environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    # An empty value names no directory, so it means the same as an unset one: no validation channel.
    validation_dir = environ.get("SM_CHANNEL_VALIDATION") or None
    if validation_dir is None and Path("/opt/ml/input/data/validation").is_dir():
        validation_dir = "/opt/ml/input/data/validation"
    model_dir = Path(environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    output_dir = Path(environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    checkpoint_dir = Path(environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints"))

    dtrain = load_channel("train", train_dir)
    evals = [(dtrain, "train")]
    if validation_dir is not None:
        dvalidation = load_channel("validation", validation_dir)
        if dvalidation.num_col() != dtrain.num_col():
            raise ChannelDataError(f"validation has {dvalidation.num_col()} features but train has {dtrain.num_col()}")
        evals.append((dvalidation, "validation"))
    print(
        f"Training on {dtrain.num_row()} rows x {dtrain.num_col()} features"
        + (f", validating on {evals[1][0].num_row()} rows" if len(evals) > 1 else ", no validation channel"),
        flush=True,
    )

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    resumed = latest_checkpoint(checkpoint_dir, args.num_round)
    rounds_before = 0
    start_model = None
    if resumed is not None:
        start_model, path = resumed
        rounds_before = start_model.num_boosted_rounds()
        print(f"Resuming from checkpoint {path.name} at round {rounds_before}", flush=True)

    callbacks: list[xgb.callback.TrainingCallback] = [
        # First, because the callback container stops calling the others once one asks to stop.
        RoundReporter(rounds_before, checkpoint_dir, args.checkpoint_frequency)
    ]
    if args.early_stopping_rounds > 0:
        if len(evals) > 1:
            callbacks.append(
                xgb.callback.EarlyStopping(
                    rounds=args.early_stopping_rounds, metric_name=args.eval_metric[0], data_name="validation"
                )
            )
        else:
            print("early_stopping_rounds ignored: there is no validation channel", flush=True)

    booster = xgb.train(
        booster_params(args),
        dtrain,
        # xgb.train counts rounds on top of xgb_model's, so ask only for the ones still missing.
        num_boost_round=args.num_round - rounds_before,
        evals=evals,
        xgb_model=start_model,
        callbacks=callbacks,
        verbose_eval=False,
    )

    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_FILENAME))
    # Final metrics of the model as saved (with early stopping, that includes the rounds after the best).
    summary = {"rounds": booster.num_boosted_rounds(), "metrics": evaluate(booster, evals)}
    if rounds_before == args.num_round:
        # Restarted after the last checkpoint already held every round: print its metrics once anyway,
        # so this run's log still carries the objective for the metric regexes.
        print(format_metric_line(summary["rounds"], summary["metrics"]), flush=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / METRICS_FILENAME).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(f"Saved {MODEL_FILENAME} with {summary['rounds']} rounds", flush=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    args = parse_hyperparameters(argv)
    try:
        train(args, dict(os.environ))
    except ChannelDataError as error:
        sys.exit(f"error: {error}")


# --------------------------------------------------------------------------------------------- inference
# SageMaker's XGBoost serving calls these four; offline evaluation calls the same ones, so the two
# cannot drift apart. Requests carry rows of the encoded FEATURE_COLUMNS of include/pipeline/data.py,
# without label or header: as many values per row as the training CSV has columns minus the label.


def model_fn(model_dir: str) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, MODEL_FILENAME))
    return booster


def _media_type(content_type: str | None) -> str:
    # "text/csv; charset=utf-8" is still CSV.
    return (content_type or "").split(";", 1)[0].strip().lower()


def input_fn(request_body: str | bytes, request_content_type: str | None) -> np.ndarray:
    """Parse a text/csv or application/json request into a 2-D float array (NaN for missing values)."""
    media_type = _media_type(request_content_type) or "text/csv"
    if media_type not in SUPPORTED_CONTENT_TYPES:
        raise ValueError(f"unsupported content type {request_content_type!r}: use 'text/csv' or 'application/json'")
    text = request_body.decode("utf-8") if isinstance(request_body, (bytes, bytearray)) else request_body
    if media_type == "text/csv":
        if not text.strip():
            raise ValueError("empty text/csv request")
        return _read_csv_rows(io.StringIO(text)).to_numpy()

    payload = json.loads(text)
    rows = payload.get("instances") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or not rows:
        raise ValueError('application/json needs {"instances": [[...], ...]} or a list of rows')
    if not isinstance(rows[0], list):
        rows = [rows]
    try:
        # None (JSON null) becomes NaN, i.e. a missing value.
        data = np.array(rows, dtype="float64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"application/json rows must be equal-length lists of numbers: {error}") from None
    if data.ndim != 2:
        raise ValueError("application/json rows must be flat lists of numbers")
    return data


def predict_fn(input_data: Any, model: xgb.Booster) -> np.ndarray:
    """Probability of a >15 min arrival delay per row; accepts an array or a DataFrame of features."""
    # A plain array, never a DataFrame: column names would be checked against (or stamped onto) the booster.
    data = np.asarray(input_data, dtype="float64")
    if data.ndim == 1:
        data = data.reshape(1, -1)
    expected = model.num_features()
    if data.shape[1] != expected:
        raise ValueError(f"rows have {data.shape[1]} features, the model expects {expected}")
    return model.predict(xgb.DMatrix(data, missing=np.nan))


def output_fn(prediction: Any, accept: str | None = "text/csv") -> str:
    """Serialize probabilities as one per line (text/csv) or {"predictions": [...]} (application/json)."""
    media_type = _media_type(accept)
    values = np.asarray(prediction, dtype="float64").ravel().tolist()
    # No Accept header (or */*) gets CSV, the default of the SageMaker XGBoost container.
    if media_type in {"", "*/*", "text/csv"}:
        return "".join(f"{value!r}\n" for value in values)
    if media_type == "application/json":
        return json.dumps({"predictions": values})
    raise ValueError(f"unsupported accept type {accept!r}: use 'text/csv' or 'application/json'")


if __name__ == "__main__":
    main()
