"""Champion/challenger evaluation on the held-out day, and the champion history kept in S3.

The challenger is the tuning job's best model; the champion is the model it has to beat (see champion_for).
Both are scored with their own training script's `model_fn`/`predict_fn`, the functions an endpoint serves
with, so offline scores and live predictions come from the same code.

The history is one JSON object per DAG run at `{prefix}/{holdout_date}/{run_key}.json`. The key depends on
the run only, so a retried evaluate overwrites its own record instead of adding a second one; deploy and
smoke_test later mark the record with update_record.

pandas, numpy and boto are imported inside the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import json
import math
import re
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.archives import UnsafeArchive, safe_extract

from .s3uri import split_object_uri

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd

# log(0) is -inf: a confident wrong answer costs log(1e-15) ≈ -34.5 instead of breaking the mean.
PROBABILITY_CLIP = 1e-15
ENTRY_POINT = "train.py"
CHALLENGER_KEYS = ("tuning_job_name", "training_job_name", "model_artifact", "code_uri")
# read_history sorts on these, so a record without them is malformed.
REQUIRED_RECORD_KEYS = ("holdout_date", "evaluated_at")


# ----------------------------------------------------------------------------------------------- scoring


def score(labels: Any, probabilities: Any) -> dict[str, Any]:
    """ROC AUC and log loss of probabilities against 0/1 labels, with the row and positive counts."""
    import numpy as np
    import pandas as pd

    y = np.asarray(labels, dtype="float64").ravel()
    p = np.asarray(probabilities, dtype="float64").ravel()
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    bad = np.isnan(p) | (p < 0) | (p > 1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} probabilities are NaN or outside [0, 1], e.g. {p[bad][0]!r}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    rows, positives = len(y), int(y.sum())
    negatives = rows - positives
    if positives == 0 or negatives == 0:
        raise ValueError(f"AUC is undefined: {rows} rows with {positives} positives and {negatives} negatives")

    # Mann-Whitney U: average ranks give tied pairs half a win, without comparing every pair.
    ranks = pd.Series(p).rank(method="average").to_numpy()
    auc = (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    clipped = np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    log_loss = -np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped))
    return {"auc": float(auc), "log_loss": float(log_loss), "rows": rows, "positives": positives}


# ------------------------------------------------------------------------------------------ model loading


@dataclass(frozen=True)
class Scorer:
    """A model as its training script loads it (`model_fn`), predicting through the script's `predict_fn`."""

    model_artifact: str
    model: Any
    predict_fn: Callable[[Any, Any], Any]

    def predict(self, features: Any) -> np.ndarray:
        """One probability per row of a 2-D feature array (FEATURE_COLUMNS order)."""
        import numpy as np

        return np.asarray(self.predict_fn(features, self.model), dtype="float64").ravel()


def _is_missing(error: Exception) -> bool:
    return getattr(error, "response", {}).get("Error", {}).get("Code") in {"NoSuchKey", "404"}


def _download_and_extract(s3_client: Any, uri: str, archive: Path, dest: Path) -> None:
    from botocore.exceptions import ClientError

    bucket, key = split_object_uri(uri)
    try:
        s3_client.download_file(bucket, key, str(archive))
    except ClientError as error:
        if _is_missing(error):
            raise FileNotFoundError(f"no archive at {uri}") from error
        raise
    try:
        safe_extract(archive, dest)
    except UnsafeArchive as error:
        raise UnsafeArchive(f"refusing {uri}: {error}") from error


def _entry_point(code_dir: Path, code_uri: str) -> Path:
    if (code_dir / ENTRY_POINT).is_file():
        return code_dir / ENTRY_POINT
    scripts = sorted(path for path in code_dir.glob("*.py") if path.is_file())
    if len(scripts) == 1:
        return scripts[0]
    found = [path.name for path in scripts]
    raise ValueError(f"{code_uri} has no {ENTRY_POINT} and not exactly one top-level .py to use instead: {found}")


def _import_script(path: Path) -> Any:
    """Import a script under a fresh name, without leaving it in sys.modules or touching sys.path."""
    name = f"_evaluated_{path.stem}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs, because dataclasses and pickling look a module up by name during import.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def load_model(s3_client: Any, model_artifact_uri: str, code_uri: str, workdir: Path) -> Scorer:
    """Download model.tar.gz and sourcedir.tar.gz, extract both safely, load the model with the script's model_fn.

    Both archives are extracted before the script is imported, so an unsafe archive (UnsafeArchive) stops
    the load before any of its code runs. Each call works in a fresh directory under workdir.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="model-", dir=workdir))
    model_dir, code_dir = root / "model", root / "code"
    _download_and_extract(s3_client, model_artifact_uri, root / "model.tar.gz", model_dir)
    _download_and_extract(s3_client, code_uri, root / "sourcedir.tar.gz", code_dir)

    script = _entry_point(code_dir, code_uri)
    module = _import_script(script)
    missing = [name for name in ("model_fn", "predict_fn") if not callable(getattr(module, name, None))]
    if missing:
        raise ValueError(f"{script.name} from {code_uri} does not define {' and '.join(missing)}")
    return Scorer(model_artifact_uri, module.model_fn(str(model_dir)), module.predict_fn)


# ------------------------------------------------------------------------------------- champion history


def record_key(prefix: str, holdout_date: str, run_id: str) -> str:
    """`{prefix}/{holdout_date}/{slug}-{hash}.json`: readable, S3- and filesystem-safe, one key per run."""
    # Keys and champion_for compare dates as strings, which orders them only in the YYYY-MM-DD form.
    if datetime.date.fromisoformat(holdout_date).isoformat() != holdout_date:
        raise ValueError(f"holdout_date must be YYYY-MM-DD, got {holdout_date!r}")
    if not run_id:
        raise ValueError("run_id must not be empty")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")[:80]
    # The slug alone could map two run ids to one key ("a:b" and "a+b"); the hash keeps them apart.
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:12]
    return f"{prefix.strip('/')}/{holdout_date}/{slug}-{digest}.json"


def write_record(s3_client: Any, bucket: str, key: str, record: dict[str, Any]) -> None:
    body = json.dumps(record, indent=2, sort_keys=True, allow_nan=False).encode()
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def _read_record(s3_client: Any, bucket: str, key: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if _is_missing(error):
            raise FileNotFoundError(f"no champion history record at s3://{bucket}/{key}") from error
        raise
    try:
        record = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"s3://{bucket}/{key} is not a JSON champion history record: {error}") from None
    if not isinstance(record, dict):
        raise ValueError(f"s3://{bucket}/{key} holds a JSON {type(record).__name__}, not a record object")
    missing = [name for name in REQUIRED_RECORD_KEYS if not isinstance(record.get(name), str)]
    if missing:
        raise ValueError(f"s3://{bucket}/{key} lacks {missing}")
    return record


def read_history(s3_client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every record under prefix, sorted by holdout_date, then evaluated_at; keys not ending in .json are skipped."""
    records = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix.strip('/')}/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".json"):
                records.append(_read_record(s3_client, bucket, item["Key"]))
    return sorted(records, key=lambda record: (record["holdout_date"], record["evaluated_at"]))


def update_record(s3_client: Any, bucket: str, key: str, **fields: Any) -> dict[str, Any]:
    """Merge fields into the record at key (e.g. deployed=True) and return the record as written."""
    record = {**_read_record(s3_client, bucket, key), **fields}
    write_record(s3_client, bucket, key, record)
    return record


def champion_for(history: list[dict[str, Any]], holdout_date: str, live: bool) -> dict[str, Any] | None:
    """The record of the model a challenger evaluated on holdout_date has to beat, or None.

    A live run competes with the model serving now: the latest deployed record of any date (one that was
    rolled back is not serving). A backfill competes with the model that had won as of that day: the latest
    winning challenger evaluated on an earlier day, so nothing from holdout_date or later leaks in.
    """
    if live:
        candidates = [r for r in history if r.get("deployed") is True and not r.get("rolled_back")]
        order = ("evaluated_at", "holdout_date")
    else:
        candidates = [r for r in history if r.get("winner") == "challenger" and r["holdout_date"] < holdout_date]
        order = ("holdout_date", "evaluated_at")
    return max(candidates, key=lambda r: tuple(r[name] for name in order), default=None)


# -------------------------------------------------------------------------------------------- evaluation


def _decide(challenger_auc: float, champion_auc: float | None, margin: float) -> tuple[str, str]:
    if champion_auc is None:
        return "challenger", "no champion yet"
    gain = challenger_auc - champion_auc
    scores = f"challenger AUC {challenger_auc:.4f}"
    if challenger_auc >= champion_auc + margin:
        return "challenger", f"{scores} beats champion {champion_auc:.4f} by {gain:.4f} >= margin {margin:.4f}"
    return "champion", (
        f"{scores} does not beat champion {champion_auc:.4f} by margin {margin:.4f} (difference {gain:+.4f})"
    )


def evaluate(
    s3_client: Any,
    *,
    bucket: str,
    history_prefix: str,
    challenger: dict[str, Any],
    holdout_rows: pd.DataFrame,
    run_id: str,
    dag_id: str,
    holdout_date: str,
    live: bool,
    margin: float,
    workdir: Path,
) -> dict[str, Any]:
    """Score the challenger (and the champion, if there is one) on holdout_rows, decide, and record the result.

    The challenger wins if there is no champion or its AUC is at least the champion's plus margin. The
    record is written to (and returned from) this run's own key, replacing an earlier attempt's.
    """
    from include.pipeline.data import LABEL_COLUMN, encode_features

    missing = [name for name in CHALLENGER_KEYS if not challenger.get(name)]
    if missing:
        raise ValueError(f"challenger lacks {missing}")
    # A negative margin is a preference for fresh models: the challenger may lose up to |margin| and still win.
    if not (math.isfinite(margin) and -1 <= margin <= 1):
        raise ValueError(f"margin must be a number from -1 to 1, got {margin!r}")
    if holdout_rows.empty:
        raise ValueError(f"no holdout rows for {holdout_date}: nothing to evaluate on")
    key = record_key(history_prefix, holdout_date, run_id)
    features = encode_features(holdout_rows).to_numpy(dtype="float64")
    labels = holdout_rows[LABEL_COLUMN].to_numpy()

    scorer = load_model(s3_client, challenger["model_artifact"], challenger["code_uri"], workdir / "challenger")
    challenger_scores = score(labels, scorer.predict(features))

    # A re-run after deploy must not find this run's own challenger as its champion.
    history = [r for r in read_history(s3_client, bucket, history_prefix) if r.get("record_key") != key]
    champion = champion_for(history, holdout_date, live)
    champion_scores: dict[str, Any] = {}
    if champion is not None:
        champion_model = load_model(s3_client, champion["model_artifact"], champion["code_uri"], workdir / "champion")
        champion_scores = score(labels, champion_model.predict(features))
    winner, reason = _decide(challenger_scores["auc"], champion_scores.get("auc"), margin)

    record = {
        "dag_id": dag_id,
        "run_id": run_id,
        "holdout_date": holdout_date,
        "live": bool(live),
        "evaluated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds"),
        **{name: challenger[name] for name in CHALLENGER_KEYS},
        "rows": challenger_scores["rows"],
        "positives": challenger_scores["positives"],
        "challenger_auc": challenger_scores["auc"],
        "challenger_log_loss": challenger_scores["log_loss"],
        "champion_training_job": champion.get("training_job_name") if champion else None,
        "champion_model_artifact": champion["model_artifact"] if champion else None,
        "champion_code_uri": champion["code_uri"] if champion else None,
        "champion_auc": champion_scores.get("auc"),
        "champion_log_loss": champion_scores.get("log_loss"),
        "margin": float(margin),
        "winner": winner,
        "reason": reason,
        "deployed": False,
        "record_key": key,
    }
    write_record(s3_client, bucket, key, record)
    return record
