"""Champion/challenger evaluation on the held-out window, and the champion history kept in S3.

The challenger is the tuning job's best model; the champion is the model it has to beat (see champion_for).
Both are scored by the spec's evaluation metric, each with its own serving code (the training script's
`model_fn`/`predict_fn`, or the built-in XGBoost server's), so offline scores and live predictions come from
the same code.

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

from .comparison import Comparison, compare
from .s3uri import split_object_uri
from .scoring import METRICS, Metric, score

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd

    from .spec import ModelSpec

CHALLENGER_KEYS = ("tuning_job_name", "training_job_name", "model_artifact")
# read_history sorts on these, so a record without them is malformed.
REQUIRED_RECORD_KEYS = ("holdout_date", "evaluated_at")
BUILTIN_MODEL_FILES = ("xgboost-model", "xgboost-model.json", "xgboost-model.ubj")


# ------------------------------------------------------------------------------------------ model loading


@dataclass(frozen=True)
class Scorer:
    """A model as its serving code loads it: the script's `model_fn`/`predict_fn`, or the built-in XGBoost server's."""

    model_artifact: str
    model: Any
    predict_fn: Callable[[Any, Any], Any]

    def predict(self, features: Any) -> np.ndarray:
        """One prediction per row of a 2-D feature array (the spec's encoding)."""
        import numpy as np

        return np.asarray(self.predict_fn(features, self.model), dtype="float64").ravel()


def _builtin_predict(features: Any, booster: Any) -> Any:
    """The SageMaker XGBoost container's default predict: a DMatrix of the rows, NaN as missing."""
    import numpy as np
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(np.asarray(features, dtype="float32"), missing=np.nan))


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


def _entry_point(code_dir: Path, code_uri: str, entry_point: str) -> Path:
    if (code_dir / entry_point).is_file():
        return code_dir / entry_point
    scripts = sorted(path for path in code_dir.glob("*.py") if path.is_file())
    if len(scripts) == 1:
        return scripts[0]
    found = [path.name for path in scripts]
    raise ValueError(f"{code_uri} has no {entry_point} and not exactly one top-level .py to use instead: {found}")


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


def load_model(
    s3_client: Any, model_artifact_uri: str, code_uri: str | None, workdir: Path, entry_point: str = "train.py"
) -> Scorer:
    """Download model.tar.gz (and sourcedir.tar.gz), extract safely, load the model as its endpoint would.

    With a code archive, the script's model_fn and predict_fn; without one (the built-in algorithm), the XGBoost
    container's: the booster in `xgboost-model`. Both archives are extracted before the script is imported, so
    an unsafe archive (UnsafeArchive) stops the load before any of its code runs. Each call works in a fresh
    directory under workdir.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="model-", dir=workdir))
    model_dir, code_dir = root / "model", root / "code"
    _download_and_extract(s3_client, model_artifact_uri, root / "model.tar.gz", model_dir)
    if code_uri is None:
        import xgboost as xgb

        found = [model_dir / name for name in BUILTIN_MODEL_FILES if (model_dir / name).is_file()]
        if not found:
            raise FileNotFoundError(f"{model_artifact_uri} holds no {' or '.join(BUILTIN_MODEL_FILES)}")
        booster = xgb.Booster()
        booster.load_model(bytearray(found[0].read_bytes()))  # from bytes: JSON or UBJSON, no guessing
        return Scorer(model_artifact_uri, booster, _builtin_predict)
    _download_and_extract(s3_client, code_uri, root / "sourcedir.tar.gz", code_dir)

    script = _entry_point(code_dir, code_uri, entry_point)
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


def read_record(s3_client: Any, bucket: str, key: str) -> dict[str, Any]:
    """The record at key as deploy and smoke_test last left it (FileNotFoundError when there is none)."""
    return _read_record(s3_client, bucket, key)


# Records read at once: a year of nightly runs is ~365 records, which one GET at a time made evaluate and report
# slower by the day (+1.3 s a run locally after a year, several times that against S3). botocore's clients are
# thread-safe and pool 10 connections by default.
HISTORY_READERS = 10


def read_history(s3_client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every record under prefix, sorted by holdout_date, then evaluated_at; keys not ending in .json are skipped."""
    from concurrent.futures import ThreadPoolExecutor

    paginator = s3_client.get_paginator("list_objects_v2")
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix.strip('/')}/")
        for item in page.get("Contents", [])
        if item["Key"].endswith(".json")
    ]
    with ThreadPoolExecutor(max_workers=HISTORY_READERS) as pool:
        records = list(pool.map(lambda key: _read_record(s3_client, bucket, key), keys))
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


@dataclass(frozen=True)
class Evaluation:
    """One run's champion/challenger evaluation: what evaluate writes to the champion history and returns.

    The history record is this object's to_xcom(), to which deploy and smoke_test later add `deployed`,
    `rolled_back` and the endpoint with update_record. Records written before specs lack the metric fields;
    champion_for and the warm start read only fields every record has.
    """

    model: str
    dag_id: str
    run_id: str
    holdout_date: str
    live: bool
    evaluated_at: str
    tuning_job_name: str
    training_job_name: str
    model_artifact: str
    code_uri: str | None
    rows: int
    metric: str
    direction: str
    challenger_score: float
    challenger_metrics: dict[str, float]
    champion_training_job: str | None
    champion_model_artifact: str | None
    champion_code_uri: str | None
    champion_score: float | None
    champion_metrics: dict[str, float] | None
    margin: float
    winner: str
    reason: str
    record_key: str
    deployed: bool = False
    positives: int | None = None
    # The paired comparison (include/pipeline/comparison.py); None without a champion, and in records written
    # before the interval rule.
    gain: float | None = None  # challenger better by this much in the metric's units
    gain_low: float | None = None
    gain_high: float | None = None
    confidence: float | None = None
    comparison_method: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_xcom(cls, values: dict[str, Any]) -> Evaluation:
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})


def decide(metric: Metric, comparison: Comparison | None, margin: float) -> tuple[str, str]:
    """(winner, reason): the challenger wins with no champion, or when the lower end of its gain's interval (see
    include/pipeline/comparison.py) is above margin; the reason states both scores, the gain, its interval and
    the rule."""
    if comparison is None:
        return "challenger", "no champion yet"
    c = comparison
    said = (
        f"challenger {metric.name} {c.challenger:.4f} against champion {c.champion:.4f}: {c.describe()}; "
        f"the challenger wins when the interval's lower end is above the margin {margin:.4f}"
    )
    if c.wins(margin):
        return "challenger", f"{said}: it is, the challenger wins"
    return "champion", f"{said}: it is not, the champion stays"


def evaluate(
    s3_client: Any,
    spec: ModelSpec,
    *,
    bucket: str,
    challenger: dict[str, Any],
    holdout_rows: pd.DataFrame,
    run_id: str,
    dag_id: str,
    holdout_date: str,
    live: bool,
    margin: float,
    workdir: Path,
) -> Evaluation:
    """Score the challenger (and the champion, if there is one) on holdout_rows, decide, and record the result.

    Both are scored by the spec's evaluation metric (and its `also` metrics, reported only), with their own
    serving code, on the same rows; the decision is the paired comparison's (see decide), at the spec's
    evaluation.confidence. The record is written to (and returned from) this run's own key, replacing an earlier
    attempt's.
    """
    from .data import encode

    missing = [name for name in CHALLENGER_KEYS if not challenger.get(name)]
    if missing:
        raise ValueError(f"challenger lacks {missing}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    if holdout_rows.empty:
        raise ValueError(f"no holdout rows for {holdout_date}: nothing to evaluate on")
    metric = METRICS[spec.evaluation.metric]
    names = (metric.name, *spec.evaluation.also)
    key = record_key(spec.history_prefix, holdout_date, run_id)
    labels, features = encode(spec, holdout_rows)
    entry_point = spec.algorithm.entry_point or "train.py"

    def predictions_of(model_artifact: str, code_uri: str | None, where: str) -> np.ndarray:
        model = load_model(s3_client, model_artifact, code_uri, workdir / where, entry_point)
        return model.predict(features)

    ours = predictions_of(challenger["model_artifact"], challenger.get("code_uri"), "challenger")
    challenger_scores = score(labels, ours, names)
    # A re-run after deploy must not find this run's own challenger as its champion.
    history = [r for r in read_history(s3_client, bucket, spec.history_prefix) if r.get("record_key") != key]
    champion = champion_for(history, holdout_date, live)
    champion_scores: dict[str, Any] = {}
    comparison = None
    if champion is not None:
        theirs = predictions_of(champion["model_artifact"], champion.get("code_uri"), "champion")
        champion_scores = score(labels, theirs, names)
        comparison = compare(metric, labels, ours, theirs, spec.evaluation.confidence)
    winner, reason = decide(metric, comparison, margin)

    record = Evaluation(
        model=spec.name,
        dag_id=dag_id,
        run_id=run_id,
        holdout_date=holdout_date,
        live=bool(live),
        evaluated_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds"),
        tuning_job_name=challenger["tuning_job_name"],
        training_job_name=challenger["training_job_name"],
        model_artifact=challenger["model_artifact"],
        code_uri=challenger.get("code_uri"),
        rows=challenger_scores["rows"],
        metric=metric.name,
        direction=metric.direction,
        challenger_score=challenger_scores[metric.name],
        challenger_metrics={name: challenger_scores[name] for name in names},
        champion_training_job=champion.get("training_job_name") if champion else None,
        champion_model_artifact=champion["model_artifact"] if champion else None,
        champion_code_uri=champion.get("code_uri") if champion else None,
        champion_score=champion_scores.get(metric.name),
        champion_metrics={name: champion_scores[name] for name in names} if champion else None,
        margin=float(margin),
        winner=winner,
        reason=reason,
        record_key=key,
        positives=challenger_scores.get("positives"),
        gain=comparison.gain if comparison else None,
        gain_low=comparison.low if comparison else None,
        gain_high=comparison.high if comparison else None,
        confidence=comparison.confidence if comparison else None,
        comparison_method=comparison.method if comparison else None,
    )
    write_record(s3_client, bucket, key, record.to_xcom())
    return record
