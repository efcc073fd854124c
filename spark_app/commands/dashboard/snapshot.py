"""The dashboard's figures, shaped from the rows the queries fetched. Pure: no I/O, no clock.

Each part of the snapshot is None when its table is absent (the page then hides that part).
Values are JSON-ready: integers stay integers, decimals become floats, times are ISO-8601 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from spark_app.commands.health import Limits, Observed, verdict
from spark_app.common.batch_metrics import LastBatch, LastRun, RecentRejects
from spark_app.common.checkpoint import PendingBatch
from spark_app.common.stats import percentile

Row = Sequence[Any]

SERIES_BATCHES = 120
FRESHNESS_BATCHES = 50
RATE_WINDOW_S = 60
BUSINESS_MINUTES = 60
LATEST_REJECTS = 10
RUNS = 10
RAW_LINE_CHARS = 200
SOURCE_FILE_CHARS = 300
FUNNEL_STEPS = ("view", "add_to_cart", "purchase")
EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase")
# Upper bounds (seconds) of the histograms' buckets, read from ingest_batches at each poll.
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
FRESHNESS_BUCKETS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STREAM_STATES = ("running", "idle", "stopped", "stuck")


@dataclass(frozen=True)
class Fetched:
    """What one poll round read; a field is None when its table does not exist."""

    # COUNT(*), SUM(files), SUM(rows_read), SUM(rows_written), SUM(rows_duplicate),
    # SUM(rows_rejected), SUM(retries) over ingest_batches.
    totals: Row | None = None
    # The latest batches, newest first: committed_at, rows_read, rows_written, rows_rejected,
    # rows_per_second, oldest_file_age_s, newest_file_age_s, stage_ms, commit_ms, total_ms,
    # retries, files.
    batches: Sequence[Row] | None = None
    # COUNT(*), SUM(rows_read) of the batches committed in the last RATE_WINDOW_S seconds.
    last_minute: Row | None = None
    # (reason, rows) of events_rejected.
    reject_reasons: Sequence[Row] | None = None
    # The latest rejected rows, newest first: reason, detail, source_file, source_line,
    # raw_line (its first RAW_LINE_CHARS + 1 characters), rejected_at.
    latest_rejects: Sequence[Row] | None = None
    # The latest runs, newest first (columns of RUN_COLUMNS).
    runs: Sequence[Row] | None = None
    # (minute_start, event_type, events, price_total) of the last BUSINESS_MINUTES minutes.
    minutes: Sequence[Row] | None = None
    # (event_type, events) over all of events_per_minute.
    type_totals: Sequence[Row] | None = None
    # Files waiting in the drop folder (None: no --input-dir).
    waiting: int | None = None
    # The latest run record that is not an import: run_id, state, recorded_at, started_at
    # (None: no pipeline_runs table or no run).
    last_run: Row | None = None
    # Over all of ingest_batches: SUM(total_ms), COUNT(*), then per DURATION_BUCKETS_S bound the
    # batches with total_ms at most that; SUM(oldest_file_age_s, at least 0),
    # COUNT(oldest_file_age_s), then per FRESHNESS_BUCKETS_S bound the batches at most that old.
    distributions: Row | None = None
    # With --checkpoint-dir: whether it was read, and its planned, uncommitted batch (None:
    # every planned batch is committed).
    checkpoint_read: bool = False
    pending: PendingBatch | None = None


RUN_COLUMNS = (
    "run_id",
    "started_at",
    "recorded_at",
    "state",
    "sources_processed",
    "total_duration_seconds",
    "total_records",
    "throughput_rpm",
    "quality_pass_rate",
    "retries",
    "errors",
    "cpu_peak_percent",
    "memory_peak_mb",
)


def iso(moment: datetime | None) -> str | None:
    """A naive UTC time as ISO-8601 with a Z, to the millisecond."""
    if moment is None:
        return None
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _float(value: Any, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _plain(value: Any) -> Any:
    """A database value as JSON: Decimal to float, datetime to ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return iso(value)
    return value


def _cut(text: Any, limit: int) -> tuple[str, bool]:
    value = "" if text is None else str(text)
    return (value[:limit], True) if len(value) > limit else (value, False)


def totals(row: Row | None) -> dict[str, int] | None:
    """Sums over every committed batch."""
    if row is None:
        return None
    names = ("batches", "files", "rows_read", "rows_written", "rows_duplicate", "rows_rejected")
    values = dict(zip(names, (_int(value) for value in row[:6]), strict=True))
    values["retries"] = _int(row[6])
    return values


def series(batches: Sequence[Row]) -> list[dict[str, Any]]:
    """The latest SERIES_BATCHES batches, oldest first, as the charts draw them."""
    points = []
    for row in reversed(batches[:SERIES_BATCHES]):
        committed, read, written, rejected, rate, oldest, _newest, stage, commit = row[:9]
        points.append(
            {
                "committed_at": iso(committed),
                "rows_read": _int(read),
                "rows_written": _int(written),
                "rows_rejected": _int(rejected),
                "rows_per_second": _float(rate, 1),
                "freshness_s": _float(oldest),
                "stage_ms": _int(stage),
                "commit_ms": _int(commit),
                "total_ms": _int(row[9]),
                "retries": _int(row[10]),
                "files": _int(row[11]),
            }
        )
    return points


def freshness(batches: Sequence[Row]) -> dict[str, Any]:
    """p50 and p95 of file landed -> committed over the latest FRESHNESS_BATCHES batches."""
    ages = [float(row[5]) for row in batches[:FRESHNESS_BATCHES] if row[5] is not None]
    return {
        "batches": len(ages),
        "p50_s": round(percentile(ages, 50), 3) if ages else None,
        "p95_s": round(percentile(ages, 95), 3) if ages else None,
    }


def rate(row: Row | None) -> dict[str, Any] | None:
    """Rows read per second over the last RATE_WINDOW_S seconds."""
    if row is None:
        return None
    return {
        "window_s": RATE_WINDOW_S,
        "batches": _int(row[0]),
        "rows_per_second": round(_int(row[1]) / RATE_WINDOW_S, 1),
    }


def last_batch(batches: Sequence[Row], now: datetime) -> LastBatch | None:
    """The latest commit seen from `now` (both naive UTC), as the health check sees it."""
    if not batches:
        return None
    ago = max(0.0, (now - batches[0][0]).total_seconds())
    newest = batches[0][6]
    return LastBatch(ago, None if newest is None else ago + float(newest))


def last_run(row: Row | None, now: datetime) -> LastRun | None:
    """The latest run's state and the age of its record, as the health check sees it."""
    if row is None:
        return None
    run_id, state, recorded = row[:3]
    return LastRun(str(run_id), str(state), max(0.0, (now - recorded).total_seconds()))


def recent_rejects(batches: Sequence[Row], window: int) -> RecentRejects:
    """Rows read and rejected by the latest `window` batches."""
    recent = batches[:window]
    return RecentRejects(
        len(recent), sum(_int(row[1]) for row in recent), sum(_int(row[3]) for row in recent)
    )


def pending_now(pending: PendingBatch | None, now: datetime) -> PendingBatch | None:
    """The pending batch with its age counted from `now` (naive UTC), the round's clock."""
    if pending is None:
        return None
    since = pending.since.astimezone(UTC).replace(tzinfo=None)
    return replace(pending, pending_s=max(0.0, (now - since).total_seconds()))


def checkpoint(fetched: Fetched, now: datetime) -> dict[str, Any] | None:
    """The checkpoint's pending batch (None: no --checkpoint-dir)."""
    if not fetched.checkpoint_read:
        return None
    pending = pending_now(fetched.pending, now)
    if pending is None:
        return {"pending_batch": None}
    return {
        "pending_batch": {
            "batch_id": pending.batch_id,
            "query_id": pending.query_id,
            "since": iso(pending.since.astimezone(UTC).replace(tzinfo=None)),
            "pending_s": round(pending.pending_s, 1),
        }
    }


def health(fetched: Fetched, now: datetime, limits: Limits) -> dict[str, Any]:
    """The verdict of `ingest-health` over the same figures."""
    batches = fetched.batches or []
    seen = Observed(
        last_batch(batches, now),
        fetched.waiting,
        recent_rejects(batches, limits.reject_window),
        last_run(fetched.last_run, now),
        pending_now(fetched.pending, now),
    )
    healthy, reason = verdict(seen, limits)
    last, run = seen.last, seen.run
    return {
        "healthy": healthy,
        "reason": reason,
        "last_commit_s_ago": None if last is None else round(last.committed_s_ago, 1),
        "waiting_files": fetched.waiting,
        "run": None
        if run is None
        else {
            "run_id": run.run_id,
            "state": run.state,
            "recorded_s_ago": round(run.recorded_s_ago, 1),
        },
    }


def stream_state(
    last: LastBatch | None,
    waiting: int | None,
    run: LastRun | None,
    run_started_s_ago: float | None,
    limits: Limits,
    pending_s: float | None = None,
) -> str:
    """One of STREAM_STATES, from the same figures as the verdict.

    stopped: no run, a run that ended, or one silent for longer than --max-heartbeat-age (dead
    or hung as a whole). Otherwise the run is alive: stuck when the checkpoint's pending batch
    (with --checkpoint-dir) has been pending longer than --max-age; running while it committed
    within --max-age (a run that started within --max-age counts as having just committed, so a
    restart is not stuck at once); else idle with nothing waiting, and stuck with files waiting
    or, without --input-dir, unknown. The heartbeat comes from its own thread, so a batch that
    hangs leaves a live run that commits nothing: stuck.
    """
    if run is None or run.state != "running" or run.recorded_s_ago > limits.max_heartbeat_age:
        return "stopped"
    if pending_s is not None and pending_s > limits.max_age:
        return "stuck"
    ages = [] if last is None else [last.committed_s_ago]
    if run_started_s_ago is not None:
        ages.append(run_started_s_ago)
    if ages and min(ages) <= limits.max_age:
        return "running"
    return "idle" if waiting == 0 else "stuck"


def stream(fetched: Fetched, now: datetime, limits: Limits) -> dict[str, Any]:
    """The stream's state and the run it comes from."""
    started = None
    if fetched.last_run is not None and len(fetched.last_run) > 3 and fetched.last_run[3]:
        started = max(0.0, (now - fetched.last_run[3]).total_seconds())
    pending = pending_now(fetched.pending, now)
    state = stream_state(
        last_batch(fetched.batches or [], now),
        fetched.waiting,
        last_run(fetched.last_run, now),
        started,
        limits,
        None if pending is None else pending.pending_s,
    )
    return {"state": state, "run_started_s_ago": None if started is None else round(started, 1)}


def _histogram(bounds: Sequence[float], total: Any, count: Any, counts: Row) -> dict[str, Any]:
    return {
        "buckets": [[bound, _int(n)] for bound, n in zip(bounds, counts, strict=True)],
        "count": _int(count),
        "sum": round(float(total or 0), 3),
    }


def distributions(row: Row | None) -> dict[str, Any] | None:
    """Batch duration and freshness as cumulative histograms over every committed batch
    (seconds; the +Inf bucket is `count`)."""
    if row is None:
        return None
    durations = len(DURATION_BUCKETS_S)
    duration_ms, batches = row[0], row[1]
    rest = row[2 + durations :]
    return {
        "batch_duration_s": _histogram(
            DURATION_BUCKETS_S, float(duration_ms or 0) / 1000, batches, row[2 : 2 + durations]
        ),
        "freshness_s": _histogram(FRESHNESS_BUCKETS_S, rest[0], rest[1], rest[2:]),
    }


def _most_first(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def rejects(reasons: Sequence[Row] | None, latest: Sequence[Row] | None) -> dict[str, Any] | None:
    """Rejected rows by reason, and the latest few as text (cut to RAW_LINE_CHARS)."""
    if reasons is None or latest is None:
        return None
    counts = sorted(((str(reason), _int(rows)) for reason, rows in reasons), key=_most_first)
    by_reason = [{"reason": reason, "rows": rows} for reason, rows in counts]
    shown = []
    for reason, detail, source_file, source_line, raw_line, rejected_at in latest[:LATEST_REJECTS]:
        raw, raw_cut = _cut(raw_line, RAW_LINE_CHARS)
        path, _ = _cut(source_file, SOURCE_FILE_CHARS)
        shown.append(
            {
                "reason": str(reason),
                "detail": None if detail is None else str(detail),
                "source_file": path,
                "source_line": _int(source_line),
                "raw_line": raw,
                "raw_line_truncated": raw_cut,
                "rejected_at": iso(rejected_at),
            }
        )
    return {"by_reason": by_reason, "latest": shown}


def runs(rows: Sequence[Row] | None) -> list[dict[str, Any]] | None:
    """The latest runs of the app, newest first."""
    if rows is None:
        return None
    return [
        {name: _plain(value) for name, value in zip(RUN_COLUMNS, row, strict=True)}
        for row in rows[:RUNS]
    ]


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0, tzinfo=None)


def _funnel(counts: dict[str, int]) -> dict[str, Any]:
    """Counts of the funnel's steps and the conversion from each step to the next (percent)."""
    view, cart, purchase = (counts.get(step, 0) for step in FUNNEL_STEPS)

    def share(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 2) if whole else None

    return {
        "view": view,
        "add_to_cart": cart,
        "purchase": purchase,
        "view_to_cart_pct": share(cart, view),
        "cart_to_purchase_pct": share(purchase, cart),
        "view_to_purchase_pct": share(purchase, view),
    }


def business(
    minutes: Sequence[Row] | None, type_totals: Sequence[Row] | None, now: datetime
) -> dict[str, Any] | None:
    """Events per minute by type and price totals over the last hour, every minute present."""
    if minutes is None:
        return None
    first = _minute(now) - timedelta(minutes=BUSINESS_MINUTES - 1)
    slots = [first + timedelta(minutes=step) for step in range(BUSINESS_MINUTES)]
    index = {moment: position for position, moment in enumerate(slots)}
    types = list(EVENT_TYPES)
    for row in minutes:
        if str(row[1]) not in types:
            types.append(str(row[1]))
    events = {name: [0] * BUSINESS_MINUTES for name in types}
    price_total = [0.0] * BUSINESS_MINUTES
    purchase_total = [0.0] * BUSINESS_MINUTES
    hour: dict[str, int] = {}
    for minute_start, event_type, count, price in minutes:
        position = index.get(_minute(minute_start))
        if position is None:
            continue
        name = str(event_type)
        events[name][position] += _int(count)
        hour[name] = hour.get(name, 0) + _int(count)
        amount = float(price or 0)
        price_total[position] += amount
        if name == "purchase":
            purchase_total[position] += amount
    overall = (
        None
        if type_totals is None
        else _funnel({str(name): _int(count) for name, count in type_totals})
    )
    return {
        "minutes": [iso(moment) for moment in slots],
        "event_types": types,
        "events": events,
        "price_total": [round(value, 2) for value in price_total],
        "purchase_total": [round(value, 2) for value in purchase_total],
        "funnel": {"last_hour": _funnel(hour), "total": overall},
    }


def build_snapshot(fetched: Fetched, now: datetime, limits: Limits | None = None) -> dict[str, Any]:
    """The whole snapshot the page draws; `now` is naive UTC, the clock of committed_at."""
    limits = limits or Limits()
    batches = fetched.batches
    return {
        "generated_at": iso(now),
        "health": health(fetched, now, limits),
        "stream": stream(fetched, now, limits),
        "checkpoint": checkpoint(fetched, now),
        "totals": totals(fetched.totals),
        "rate": rate(fetched.last_minute),
        "freshness": None if batches is None else freshness(batches),
        "series": None if batches is None else series(batches),
        "rejects": rejects(fetched.reject_reasons, fetched.latest_rejects),
        "runs": runs(fetched.runs),
        "business": business(fetched.minutes, fetched.type_totals, now),
        "distributions": distributions(fetched.distributions),
    }
