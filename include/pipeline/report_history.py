"""A model's history page: every run's held-out scores by day, deployments and rollbacks marked.

The page is rebuilt from the champion history (the evaluation records in S3, see champion.py) by every run's
report task, nightly and backfill alike, so it always shows every record there is. It lives beside the runs'
reports, at `{reports}/_history/{model}/index.html` (`_` cannot start a tuning job's name, so it never clashes
with a run's report), and links to each run's report relatively.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .report import _words, fmt, page, png_data_uri
from .report_study import figure_png

HISTORY_DIR = "_history"
HISTORY_PNG = "history.png"


@dataclass(frozen=True)
class HistoryPage:
    html: str
    images: dict[str, bytes]


def history_prefix(reports_root: str, model: str) -> str:
    """Where a model's history page lives, given the folder that holds the runs' report folders."""
    return "/".join(p for p in (reports_root.strip("/"), HISTORY_DIR, model) if p)


def run_outcome(record: dict[str, Any]) -> str:
    """One record's outcome in a word or two, as the report's summary names it."""
    if record.get("rolled_back"):
        return "rolled back"
    if record.get("deployed"):
        return "deployed"
    if record.get("winner") == "champion":
        return "kept"
    return "won, backfill" if not record.get("live") else "won, not deployed"


_STYLE = {  # outcome: matplotlib marker, colour
    "deployed": ("^", "#2a7"),
    "rolled back": ("X", "#c33"),
    "kept": ("o", "#999"),
    "won, backfill": ("o", "#46a"),
    "won, not deployed": ("s", "#e90"),
}


def _plot(records: list[dict[str, Any]], metric: str, maximize: bool) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def day(record: dict[str, Any]) -> datetime.date:
        return datetime.date.fromisoformat(record["holdout_date"])

    figure, ax = plt.subplots(figsize=(8, 4))
    try:
        champions = [r for r in records if r.get("champion_score") is not None]
        if champions:
            ax.plot(
                [day(r) for r in champions],
                [r["champion_score"] for r in champions],
                color="k",
                linestyle=":",
                marker="_",
                markersize=14,
                label="champion it faced",
            )
        for outcome, (marker, colour) in _STYLE.items():
            chosen = [r for r in records if run_outcome(r) == outcome]
            if chosen:
                ax.scatter(
                    [day(r) for r in chosen],
                    [r["challenger_score"] for r in chosen],
                    marker=marker,
                    color=colour,
                    s=70,
                    zorder=3,
                    label=f"challenger, {outcome}",
                )
        for record in records:
            if run_outcome(record) in ("deployed", "rolled back"):
                ax.axvline(day(record), color=_STYLE[run_outcome(record)][1], linewidth=0.8, alpha=0.5)
        ax.set_ylabel(f"held-out {_words(metric)} ({'higher' if maximize else 'lower'} is better)")
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
        return figure_png(figure)
    finally:
        plt.close(figure)


def build_history(
    model: str, records: list[dict[str, Any]], report_link: Callable[[str], str] | None = None
) -> HistoryPage:
    """The page and its plot from the model's records (read_history's order: by held-out day, then time).

    Only records scored by the newest record's metric are plotted (a spec may change its metric); the table
    lists them all, newest first, each linking to its run's report: `report_link(tuning job)` (a presigned URL,
    as a private bucket needs), by default the report's path relative to this page.
    """
    report_link = report_link or (lambda job: f"../../{job}/index.html")
    title = f"{model}: history across runs"
    if not records:
        return HistoryPage(page(title, [f"<h1>{html.escape(title)}</h1>", "<p>No run has been evaluated yet.</p>"]), {})
    metric = records[-1].get("metric") or "score"
    same = [r for r in records if (r.get("metric") or "score") == metric and r.get("challenger_score") is not None]
    maximize = records[-1].get("direction", "Maximize") == "Maximize"
    serving = next(
        (r for r in sorted(records, key=lambda r: r["evaluated_at"], reverse=True) if run_outcome(r) == "deployed"),
        None,
    )
    counts = {o: sum(run_outcome(r) == o for r in records) for o in _STYLE}
    parts = [f"<h1>{html.escape(title)}</h1>"]
    lead = f"{len(records)} evaluated runs: " + ", ".join(f"{n} {o}" for o, n in counts.items() if n) + "."
    if serving:
        lead += (
            f" Serving now (last deployed): {serving['training_job_name']}, held out {serving['holdout_date']},"
            f" {_words(serving.get('metric'))} {fmt(serving.get('challenger_score'))}."
        )
    parts.append(f"<p class='lead'>{html.escape(lead)}</p>")
    images = {}
    if same:
        images[HISTORY_PNG] = _plot(same, metric, maximize)
        parts.append(
            f"<figure><img src='{png_data_uri(images[HISTORY_PNG])}' alt='held-out {html.escape(_words(metric))} "
            "by day'>"
            "<figcaption><b>Held-out score by day</b>. Each run's challenger, shaped by what became of it, and the "
            "champion it faced; vertical lines mark deployments (green) and rollbacks (red).</figcaption></figure>"
        )
    head = ("Held out", "Run", "Challenger", "Champion", "Outcome", "Why", "Report")
    rows = []
    for record in reversed(records):
        report = report_link(record["tuning_job_name"])
        cells = [
            html.escape(record["holdout_date"]),
            html.escape(f"{'live' if record.get('live') else 'backfill'}: {record.get('run_id', '')}"),
            html.escape(f"{_words(record.get('metric'))} {fmt(record.get('challenger_score'))}"),
            html.escape(fmt(record.get("champion_score"))),
            html.escape(run_outcome(record)),
            html.escape(str(record.get("rollback_reason") or record.get("reason") or "")),
            f"<a href='{html.escape(report)}'>{html.escape(record['tuning_job_name'])}</a>",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    parts.append(
        f"<h2>Runs, newest first</h2><div class='scroll'><table><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return HistoryPage(page(title, parts), images)


def publish_history(s3_client: Any, history: HistoryPage, bucket: str, prefix: str) -> str:
    """Write the history page and its plot under prefix (plot first); return the page's s3:// URI."""
    for file, png in history.images.items():
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{file}", Body=png, ContentType="image/png")
    key = f"{prefix}/index.html"
    s3_client.put_object(Bucket=bucket, Key=key, Body=history.html.encode(), ContentType="text/html; charset=utf-8")
    return f"s3://{bucket}/{key}"
