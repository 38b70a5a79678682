"""CloudWatch metrics and CloudWatch Logs kept in the state directory, not in the service's memory.

moto keeps every PutMetricData value and every log event as a Python object for the life of the process, and
scans all of them on each query. Every training job publishes its metrics (SageMaker's own, one value per log
line that matches a definition) and ships its log, so a service that runs a year of nightly tuning holds tens of
MiB more each month, and loses all of it on a restart, although CloudWatch keeps both.

Here moto keeps answering the calls (its validation, errors and wire format stay), but what it stores goes to one
SQLite file, `cloudwatch.sqlite3`:

- metrics: one row per distinct metric (namespace, name, dimensions) and one per value. PutMetricData commits
  before its answer; GetMetricStatistics, GetMetricData and ListMetrics select by metric and time in SQL and hand
  moto's own code only the rows that can match.
- logs: log groups (name, creation time, retention, tags given at creation), streams (creation time, first and
  last event, last ingestion, stored bytes, sequence token) and events. A stream's `events` is a view of its rows,
  so GetLogEvents, FilterLogEvents and DescribeLogStreams run moto's code unchanged; a stream's first and last
  event times are kept on the stream, so describing a group of thousands of streams reads no event.

`restore()` puts the log groups and streams back into moto at start-up; values and events stay on disk and are
read when asked for. What is still kept only in memory, as before: alarms, dashboards, insight rules, metric and
subscription filters, resource policies, Logs Insights queries, export tasks, and tag changes after a log group
was created. Values and events are committed with SQLite's WAL at synchronous=NORMAL: a killed service keeps every
one it acknowledged; a power cut may lose the last ones, as it may lose what CloudWatch had not yet flushed.

The service holds one such store (moto's backends are per process): `CloudWatchPersistence` installs it into
moto's classes, and the one made last serves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY, account TEXT, region TEXT, namespace TEXT,"
    " name TEXT, dimensions TEXT, UNIQUE (account, region, namespace, name, dimensions))",
    # value is NULL for a StatisticValues datum, which has sum/minimum/maximum/sample_count instead.
    "CREATE TABLE IF NOT EXISTS datums (metric INTEGER, at REAL, naive INTEGER, unit TEXT, value REAL, sum REAL,"
    " minimum REAL, maximum REAL, sample_count REAL)",
    "CREATE INDEX IF NOT EXISTS datums_by_metric ON datums (metric, at)",
    "CREATE INDEX IF NOT EXISTS datums_by_time ON datums (at)",
    "CREATE TABLE IF NOT EXISTS log_groups (account TEXT, region TEXT, name TEXT, created REAL, retention INTEGER,"
    " kms_key_id TEXT, tags TEXT, PRIMARY KEY (account, region, name))",
    "CREATE TABLE IF NOT EXISTS log_streams (id INTEGER PRIMARY KEY, account TEXT, region TEXT, log_group TEXT,"
    " name TEXT, created REAL, first_event INTEGER, last_event INTEGER, last_ingestion REAL, stored_bytes INTEGER,"
    " sequence INTEGER, events INTEGER, UNIQUE (account, region, log_group, name))",
    "CREATE TABLE IF NOT EXISTS log_events (id INTEGER PRIMARY KEY, stream INTEGER, timestamp INTEGER,"
    " ingestion_time INTEGER, message TEXT)",
    "CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (stream, id)",
)

_active: CloudWatchPersistence | None = None
_restoring = threading.local()


def _store() -> CloudWatchPersistence:
    if _active is None:
        raise RuntimeError("no CloudWatch store is installed")
    return _active


def _epoch(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _datetime(epoch: float, naive: bool) -> datetime:
    at = datetime.fromtimestamp(epoch, UTC)
    return at.replace(tzinfo=None) if naive else at


class CloudWatchPersistence:
    def __init__(self, path: Path) -> None:
        global _active
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._metric_ids: dict[tuple[str, str, str, str, str], int] = {}
        _install()
        _active = self

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:  # nested: the outer one commits
                yield self._db
                return
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._metric_ids.clear()  # it may name a metric row the rollback took back
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _read_named(self, sql: str) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # --- metrics ---------------------------------------------------------------------------------------------
    def add_datum(self, backend: Any, namespace: str, datum: Any) -> None:
        from moto.cloudwatch.models import MetricAggregatedDatum

        dimensions = json.dumps([[d.name, d.value] for d in datum.dimensions])
        key = (backend.account_id, backend.region_name, namespace, datum.name, dimensions)
        with self._transaction() as db:
            metric = self._metric_ids.get(key)
            if metric is None:
                db.execute("INSERT OR IGNORE INTO metrics VALUES (NULL, ?, ?, ?, ?, ?)", key)
                (metric,) = db.execute(
                    "SELECT id FROM metrics WHERE account=? AND region=? AND namespace=? AND name=? AND dimensions=?",
                    key,
                ).fetchone()
                self._metric_ids[key] = metric
            if isinstance(datum, MetricAggregatedDatum):
                values: tuple[Any, ...] = (None, datum.sum, datum.min, datum.max, datum.sample_count)
            else:
                values = (datum.value, None, None, None, None)
            db.execute(
                "INSERT INTO datums VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (metric, _epoch(datum.timestamp), datum.timestamp.tzinfo is None, datum.unit, *values),
            )

    def metrics(self, backend: Any, namespace: str | None = None, name: str | None = None) -> list[Any]:
        """One moto datum per distinct metric (its value is never read: ListMetrics returns names)."""
        rows = self._metric_rows(backend, namespace, name)
        return [_metric_datum(namespace_, name_, dims, 0.0, None, None) for _, namespace_, name_, dims in rows]

    def datums(
        self, backend: Any, start: datetime, end: datetime, namespace: str | None = None, name: str | None = None
    ) -> list[Any]:
        """moto datums of this backend at or after `start` (floored to the second) and before `end`."""
        where, args = _metric_filter(backend, namespace, name, "m.")
        joined = "datums d JOIN metrics m ON m.id = d.metric"
        sql = f"SELECT m.namespace, m.name, m.dimensions, d.* FROM {joined} WHERE {where} AND d.at >= ? AND d.at < ?"  # noqa: S608 (fixed columns, bound values)
        # moto compares the times again, exactly
        rows = self._read(sql + " ORDER BY d.rowid", (*args, _epoch(start.replace(microsecond=0)), _epoch(end) + 1))
        return [_datum_from_row(row) for row in rows]

    def _metric_rows(self, backend: Any, namespace: str | None, name: str | None) -> list[tuple[Any, ...]]:
        where, args = _metric_filter(backend, namespace, name)
        return self._read(f"SELECT id, namespace, name, dimensions FROM metrics WHERE {where} ORDER BY id", args)  # noqa: S608

    # --- logs ------------------------------------------------------------------------------------------------
    def add_group(self, group: Any, tags: dict[str, str] | None) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO log_groups VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    group.account_id,
                    group.region,
                    group.name,
                    _epoch(group.creation_time),
                    group.retention_in_days,
                    group.kms_key_id,
                    json.dumps(tags or {}),
                ),
            )

    def set_retention(self, group: Any) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE log_groups SET retention=? WHERE account=? AND region=? AND name=?",
                (group.retention_in_days, group.account_id, group.region, group.name),
            )

    def delete_group(self, account: str, region: str, name: str) -> None:
        with self._transaction() as db:
            streams = "SELECT id FROM log_streams WHERE account=? AND region=? AND log_group=?"
            db.execute(f"DELETE FROM log_events WHERE stream IN ({streams})", (account, region, name))  # noqa: S608
            db.execute("DELETE FROM log_streams WHERE account=? AND region=? AND log_group=?", (account, region, name))
            db.execute("DELETE FROM log_groups WHERE account=? AND region=? AND name=?", (account, region, name))

    def add_stream(self, stream: Any) -> int:
        group = stream.log_group
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO log_streams VALUES (NULL, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, 0, 0)",
                (group.account_id, group.region, group.name, stream.log_stream_name, _epoch(stream.creation_time)),
            )
            return int(cursor.lastrowid or 0)

    def delete_stream(self, stream_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM log_events WHERE stream=?", (stream_id,))
            db.execute("DELETE FROM log_streams WHERE id=?", (stream_id,))

    def add_events(self, stream: Any, events: list[Any]) -> None:
        """Store `events` (moto LogEvents) and the stream's counters in one transaction; each event takes its
        row id as its eventId."""
        with self._transaction() as db:
            for event in events:
                cursor = db.execute(
                    "INSERT INTO log_events VALUES (NULL, ?, ?, ?, ?)",
                    (stream._row_id, event.timestamp, event.ingestion_time, event.message),
                )
                event.event_id = cursor.lastrowid
            db.execute(
                "UPDATE log_streams SET first_event=?, last_event=?, last_ingestion=?, stored_bytes=?, sequence=?,"
                " events=? WHERE id=?",
                (
                    stream.first_event_timestamp,
                    stream.last_event_timestamp,
                    _epoch(stream.last_ingestion_time) if stream.last_ingestion_time else None,
                    stream.stored_bytes,
                    stream.upload_sequence_token,
                    stream._event_count,
                    stream._row_id,
                ),
            )

    def events(self, stream_id: int) -> list[Any]:
        from moto.logs.models import LogEvent

        events = []
        for row_id, timestamp, ingestion_time, message in self._read(
            "SELECT id, timestamp, ingestion_time, message FROM log_events WHERE stream=? ORDER BY id", (stream_id,)
        ):
            event = object.__new__(LogEvent)  # not LogEvent(): its id is the row's, not a new one from moto's counter
            event.event_id, event.timestamp, event.ingestion_time, event.message = (
                row_id,
                timestamp,
                ingestion_time,
                message,
            )
            events.append(event)
        return events

    # --- start-up --------------------------------------------------------------------------------------------
    def restore(self) -> dict[str, int]:
        """Put the stored log groups and streams back into moto; count what is stored."""
        from moto.logs.models import logs_backends

        _restoring.active = True
        try:
            groups = self._read("SELECT * FROM log_groups ORDER BY rowid")
            for account, region, name, created, retention, kms_key_id, tags in groups:
                kwargs = {"kmsKeyId": kms_key_id} if kms_key_id else {}
                group = logs_backends[account][region].create_log_group(name, json.loads(tags), **kwargs)
                group.creation_time = _datetime(created, naive=True)
                group.retention_in_days = retention
            streams = self._read_named("SELECT * FROM log_streams ORDER BY id")
            for row in streams:
                group = logs_backends[row["account"]][row["region"]].groups.get(row["log_group"])
                if group is None:  # no stored group (a write cut short between the two): nothing to attach it to
                    continue
                group.create_log_stream(row["name"])
                stream = group.streams[row["name"]]
                stream._row_id = row["id"]
                stream.creation_time = _datetime(row["created"], naive=True)
                stream.first_event_timestamp, stream.last_event_timestamp = row["first_event"], row["last_event"]
                ingested = row["last_ingestion"]
                stream.last_ingestion_time = _datetime(ingested, naive=True) if ingested is not None else None
                stream.stored_bytes, stream.upload_sequence_token = row["stored_bytes"], row["sequence"]
                stream._event_count = row["events"]
        finally:
            _restoring.active = False
        [(metrics,)] = self._read("SELECT COUNT(*) FROM metrics")
        return {"log_groups": len(groups), "log_streams": len(streams), "metrics": metrics}


def _metric_filter(
    backend: Any, namespace: str | None, name: str | None, prefix: str = ""
) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (columns of `metrics`, under `prefix`) selecting this backend's metrics, of `namespace` and
    `name` when given."""
    conditions, args = [f"{prefix}account=?", f"{prefix}region=?"], [backend.account_id, backend.region_name]
    for column, value in (("namespace", namespace), ("name", name)):
        if value is not None:
            conditions.append(f"{prefix}{column}=?")
            args.append(value)
    return " AND ".join(conditions), tuple(args)


def _metric_datum(
    namespace: str, name: str, dimensions: str, at: float, naive: bool | None, unit: str | None, value: float = 0.0
) -> Any:
    from moto.cloudwatch.models import MetricDatum

    dims = [{"Name": n, "Value": v} for n, v in json.loads(dimensions)]
    timestamp = _datetime(at, bool(naive)) if naive is not None else None
    return MetricDatum(namespace, name, value, dims, timestamp, unit)


def _datum_from_row(row: tuple[Any, ...]) -> Any:
    from moto.cloudwatch.models import MetricAggregatedDatum

    namespace, name, dims, _metric, at, naive, unit, value, total, minimum, maximum, count = row
    if value is None and count is not None:
        return MetricAggregatedDatum(
            namespace=namespace,
            name=name,
            min_stat=minimum,
            max_stat=maximum,
            sample_count=count,
            sum_stat=total,
            dimensions=[{"Name": n, "Value": v} for n, v in json.loads(dims)],
            timestamp=_datetime(at, bool(naive)),
            unit=unit,
        )
    return _metric_datum(namespace, name, dims, at, bool(naive), unit, value)


class _StoredMetricData:
    """A CloudWatch backend's `metric_data`: what moto appends goes to the store (PutMetricData is the only writer)."""

    def __init__(self, backend: Any, namespace: str) -> None:
        self.backend = backend
        self.namespace = namespace

    def append(self, datum: Any) -> None:
        _store().add_datum(self.backend, self.namespace, datum)


class _Selected:
    """What moto's query methods read of their backend, limited to the rows that can match."""

    def __init__(self, backend: Any, datums: list[Any]) -> None:
        self.datums = datums
        self.aws_metric_data = backend.aws_metric_data  # metrics moto derives from other services, computed per call

    def get_all_metrics(self) -> list[Any]:
        return self.datums + self.aws_metric_data


class _StoredEvents:
    """A log stream's `events`: the stream's rows. moto appends with `+=`, tests it for emptiness, iterates it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __iadd__(self, events: list[Any]) -> _StoredEvents:
        stream = self.stream
        if events:
            timestamps = [event.timestamp for event in events]
            first, last = min(timestamps), max(timestamps)
            if stream.first_event_timestamp is None or first < stream.first_event_timestamp:
                stream.first_event_timestamp = first
            if stream.last_event_timestamp is None or last > stream.last_event_timestamp:
                stream.last_event_timestamp = last
            stream._event_count += len(events)
            stream.__dict__.setdefault("_new_events", []).extend(events)  # stored by put_log_events, with its counters
        return self

    def __bool__(self) -> bool:
        return bool(self.stream._event_count)

    def __len__(self) -> int:
        return int(self.stream._event_count)

    def __iter__(self) -> Iterator[Any]:
        return iter(_store().events(self.stream._row_id))


def _install() -> None:
    """Route moto's CloudWatch and Logs storage to the active store (once per process)."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.logs.models import LogGroup, LogsBackend, LogStream

    if getattr(CloudWatchBackend, "_stored", False):
        return
    CloudWatchBackend._stored = True

    # --- metrics: moto's __init__ assigns an empty list, PutMetricData appends, the queries read -----------------
    def get_metric_data_list(self: Any) -> Any:
        return self.__dict__.get("_stored_metric_data") or _StoredMetricData(self, "")

    def set_metric_data_list(self: Any, value: Any) -> None:
        if value:
            raise ValueError("CloudWatch values are stored by PutMetricData only")

    CloudWatchBackend.metric_data = property(get_metric_data_list, set_metric_data_list)

    put_metric_data = CloudWatchBackend.put_metric_data

    def stored_put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        with _store()._transaction():  # the whole request, or none of it
            self.__dict__["_stored_metric_data"] = _StoredMetricData(self, namespace)
            try:
                put_metric_data(self, namespace, metric_data)
            finally:
                del self.__dict__["_stored_metric_data"]

    get_metric_statistics = CloudWatchBackend.get_metric_statistics

    def stored_get_metric_statistics(
        self: Any, namespace: str, metric_name: str, start_time: datetime, end_time: datetime, *args: Any, **kw: Any
    ) -> Any:
        datums = _store().datums(self, start_time, end_time, namespace, metric_name) if start_time < end_time else []
        return get_metric_statistics(_Selected(self, datums), namespace, metric_name, start_time, end_time, *args, **kw)

    get_metric_data = CloudWatchBackend.get_metric_data

    def stored_get_metric_data(
        self: Any, queries: list[dict[str, Any]], start_time: datetime, end_time: datetime, *args: Any, **kw: Any
    ) -> Any:
        datums = _store().datums(self, start_time, end_time) if start_time < end_time else []
        return get_metric_data(_Selected(self, datums), queries, start_time, end_time, *args, **kw)

    list_metrics = CloudWatchBackend.list_metrics

    def stored_list_metrics(
        self: Any, next_token: str | None, namespace: str, metric_name: str, dimensions: list[dict[str, str]]
    ) -> Any:
        if next_token:  # the rest of an earlier answer, which moto keeps per token
            return list_metrics(self, next_token, namespace, metric_name, dimensions)
        selected = _Selected(self, _store().metrics(self, namespace or None, metric_name or None))
        found = CloudWatchBackend.get_filtered_metrics(selected, metric_name, namespace, dimensions)  # type: ignore[arg-type]
        return self._get_paginated(found)

    CloudWatchBackend.put_metric_data = stored_put_metric_data
    CloudWatchBackend.get_metric_statistics = stored_get_metric_statistics
    CloudWatchBackend.get_metric_data = stored_get_metric_data
    CloudWatchBackend.list_metrics = stored_list_metrics

    # --- logs ------------------------------------------------------------------------------------------------
    def get_events(self: Any) -> _StoredEvents:
        return _StoredEvents(self)

    def set_events(self: Any, value: Any) -> None:
        if isinstance(value, _StoredEvents):  # `self.events += ...` assigns the view back
            return
        if value:
            raise ValueError("log events are stored by PutLogEvents only")

    LogStream.events = property(get_events, set_events)

    stream_init = LogStream.__init__

    def stored_stream_init(self: Any, log_group: Any, name: str) -> None:
        stream_init(self, log_group, name)
        self._event_count = 0
        self._row_id = 0 if getattr(_restoring, "active", False) else _store().add_stream(self)

    LogStream.__init__ = stored_stream_init
    LogStream._update = lambda self: None  # first and last event times are kept as events arrive

    put_log_events = LogStream.put_log_events

    def stored_put_log_events(self: Any, log_events: list[dict[str, Any]]) -> str:
        with _store()._transaction():  # holds the store's lock: one request at a time changes a stream
            token = put_log_events(self, log_events)
            _store().add_events(self, self.__dict__.pop("_new_events", []))
        return token

    LogStream.put_log_events = stored_put_log_events

    delete_log_stream = LogGroup.delete_log_stream

    def stored_delete_log_stream(self: Any, log_stream_name: str) -> None:
        stream = self.streams.get(log_stream_name)
        delete_log_stream(self, log_stream_name)
        if stream is not None:
            _store().delete_stream(stream._row_id)

    LogGroup.delete_log_stream = stored_delete_log_stream
    _after(LogGroup, "set_retention_policy", lambda group, *_: _store().set_retention(group))

    create_log_group = LogsBackend.create_log_group

    def stored_create_log_group(self: Any, log_group_name: str, tags: dict[str, str], **kwargs: Any) -> Any:
        group = create_log_group(self, log_group_name, tags, **kwargs)
        if not getattr(_restoring, "active", False):
            _store().add_group(group, tags)
        return group

    LogsBackend.create_log_group = stored_create_log_group
    ensure_log_group = LogsBackend.ensure_log_group

    def stored_ensure_log_group(self: Any, log_group_name: str) -> None:
        if log_group_name not in self.groups:
            ensure_log_group(self, log_group_name)
            _store().add_group(self.groups[log_group_name], None)

    LogsBackend.ensure_log_group = stored_ensure_log_group
    _after(
        LogsBackend,
        "delete_log_group",
        lambda logs, name: _store().delete_group(logs.account_id, logs.region_name, name),
    )


def _after(cls: type, name: str, then: Callable[..., None]) -> None:
    method = getattr(cls, name)

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        then(self, *args, **kwargs)
        return result

    setattr(cls, name, wrapped)
