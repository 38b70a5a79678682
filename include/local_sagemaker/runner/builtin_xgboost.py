"""The SageMaker built-in XGBoost algorithm, as a standalone script the runner starts per job.

Reads the hyperparameters SageMaker writes (input/config/hyperparameters.json, all strings), the `train`
and optional `validation` channels (text/csv with the label first and no header, application/x-parquet
with the label first, or text/libsvm), trains, and prints
AWS's log format, tabs rendered as `#011`, so AWS's metric regexes (`validation:auc`, ...) apply:

    [3]#011train-auc:0.81234#011validation-auc:0.79012

Writes `xgboost-model` into the model directory and checkpoints `xgboost-checkpoint.<round>` into the
checkpoint directory, resuming from the newest one as the AWS container does. Standalone on purpose: it
imports nothing from the project, like the algorithm's container.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

# Hyperparameters that are not booster parameters.
_NOT_PARAMS = {"num_round", "csv_weights", "early_stopping_rounds", "save_model_on_termination", "_kfold"}
_INTEGER = {"max_depth", "num_class", "seed", "max_leaves", "max_bin", "num_parallel_tree", "nthread"}


def _load(channel: Path, content_type: str) -> xgb.DMatrix:
    """text/csv and application/x-parquet: label in the first column; text/libsvm: one file, label first."""
    files = sorted(p for p in channel.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise SystemExit(f"ClientError: channel {channel.name!r} has no data files in {channel}")
    if "libsvm" in content_type:
        if len(files) != 1:
            raise SystemExit(f"ClientError: channel {channel.name!r}: text/libsvm needs exactly one file")
        return xgb.DMatrix(f"{files[0]}?format=libsvm")
    if "parquet" in content_type:
        data = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    elif "csv" in content_type:
        data = pd.concat([pd.read_csv(p, header=None) for p in files], ignore_index=True)
    else:
        raise SystemExit(
            f"ClientError: channel {channel.name!r}: content type {content_type!r} is not supported; "
            "use text/csv, text/libsvm or application/x-parquet"
        )
    if data.shape[1] < 2:
        raise SystemExit(f"ClientError: channel {channel.name!r}: needs the label and at least one feature column")
    label = data.iloc[:, 0].to_numpy(dtype=np.float32)
    return xgb.DMatrix(data.iloc[:, 1:].to_numpy(dtype=np.float32), label=label, missing=np.nan)


def _params(hyperparameters: dict[str, str]) -> tuple[dict, int, int]:
    if "num_round" not in hyperparameters:
        raise SystemExit("ClientError: hyperparameter num_round is required by the XGBoost algorithm")
    params: dict = {}
    for key, value in hyperparameters.items():
        if key in _NOT_PARAMS or key.startswith("_") or key.startswith("sagemaker_"):
            continue
        if key == "eval_metric":
            params[key] = value.split(",")
            continue
        try:
            number = float(value)
            params[key] = int(number) if key in _INTEGER or number.is_integer() and "." not in value else number
        except ValueError:
            params[key] = value
    early = int(hyperparameters.get("early_stopping_rounds", "0") or 0)
    return params, int(hyperparameters["num_round"]), early


class _AwsLog(xgb.callback.TrainingCallback):
    """Print one line per round in the AWS container's format and checkpoint every round."""

    def __init__(self, offset: int, checkpoints: Path | None) -> None:
        self.offset = offset
        self.checkpoints = checkpoints

    def after_iteration(self, model, epoch, evals_log) -> bool:
        step = self.offset + epoch
        parts = [f"[{step}]"]
        for data, metrics in evals_log.items():
            for metric, values in metrics.items():
                parts.append(f"{data}-{metric}:{values[-1]:.5f}")
        print("#011".join(parts), flush=True)
        if self.checkpoints is not None:
            tmp = self.checkpoints / f".xgboost-checkpoint.{step}.tmp"
            tmp.write_bytes(model.save_raw("json"))
            os.replace(tmp, self.checkpoints / f"xgboost-checkpoint.{step}")
            for old in sorted(_checkpoints(self.checkpoints))[:-5]:
                old[1].unlink(missing_ok=True)
        return False


def _load_model(path: Path) -> xgb.Booster:
    # From bytes, xgboost detects JSON or UBJSON itself; a file name without extension makes it guess and warn.
    booster = xgb.Booster()
    booster.load_model(bytearray(path.read_bytes()))
    return booster


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob("xgboost-checkpoint.*"):
        suffix = path.name.rsplit(".", 1)[-1]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return found


def main() -> int:
    root = Path(os.environ.get("SM_OPT_ML_DIR", "/opt/ml"))
    hyperparameters = json.loads((root / "input/config/hyperparameters.json").read_text())
    data_config = json.loads((root / "input/config/inputdataconfig.json").read_text())
    params, num_round, early = _params(hyperparameters)
    channels = {}
    for name in ("train", "validation"):
        path = root / "input/data" / name
        if path.is_dir():
            content_type = (data_config.get(name) or {}).get("ContentType", "text/csv")
            channels[name] = _load(path, content_type)
    if "train" not in channels:
        raise SystemExit("ClientError: the XGBoost algorithm needs a 'train' channel")
    checkpoints = Path(os.environ.get("SM_CHECKPOINT_DIR", root / "checkpoints"))
    checkpoints.mkdir(parents=True, exist_ok=True)
    previous = max(_checkpoints(checkpoints), default=None)
    booster, done = None, 0
    if previous is not None:
        done = previous[0] + 1
        booster = _load_model(previous[1])
        print(f"Resuming training from checkpoint {previous[1].name} (round {done})", flush=True)
    evals = [(matrix, name) for name, matrix in channels.items()]
    model = xgb.train(
        params,
        channels["train"],
        num_boost_round=max(0, num_round - done),
        evals=evals,
        xgb_model=booster,
        early_stopping_rounds=early or None if "validation" in channels else None,
        callbacks=[_AwsLog(done, checkpoints)],
        verbose_eval=False,
    )
    model_dir = Path(os.environ.get("SM_MODEL_DIR", root / "model"))
    (model_dir / "xgboost-model").write_bytes(model.save_raw("json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
