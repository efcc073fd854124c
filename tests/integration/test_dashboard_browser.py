"""The dashboard in a real browser, on each sink: a private MariaDB or PostgreSQL with the app's
tables, `python -m spark_app.dashboard` as a process with the read-only account, Debian's
chromium driven by Playwright.

Commits are simulated with plain SQL inserts into the sink's tables (the stream itself is tested
elsewhere). Set UPDATE_DOCS_SCREENSHOT=1 to refresh docs/images/dashboard.png as well.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

try:
    from playwright import sync_api
except ImportError:  # the test is skipped, with the reason
    sync_api = None

from spark_app.common.database import DatabaseSettings
from spark_app.sink.drivers import connect
from tests.dashboard_process import running_dashboard
from tests.sinks import SinkUnderTest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO / "docs" / "images" / "dashboard.png"
SCRIPT_LINE = "<script>window.__xss=1</script>"
IMG_FILE = '"><img src=x onerror="window.__xss=2">'

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]

QUERY_ID = str(uuid.uuid4())
RUN_ID = "20250301_120000"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def insert_batch(settings: DatabaseSettings, batch_id: int, at: datetime, read: int) -> int:
    """One committed batch as the sink records it; returns its rows written."""
    rejected = batch_id % 3
    duplicate = 1 if batch_id % 5 == 0 else 0
    written = read - rejected - duplicate
    stage, commit = 300 + 7 * (batch_id % 11), 40 + 3 * (batch_id % 7)
    with connect(settings) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "INSERT INTO ingest_batches (query_id, batch_id, run_id, committed_at, files,"
            " rows_read, rows_written, rows_duplicate, rows_rejected, stage_ms, commit_ms,"
            " total_ms, rows_per_second, oldest_file_age_s, newest_file_age_s, retries)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                QUERY_ID,
                batch_id,
                RUN_ID,
                at,
                1,
                read,
                written,
                duplicate,
                rejected,
                stage,
                commit,
                stage + commit,
                Decimal(round(read / ((stage + commit) / 1000), 1)),
                Decimal(str(1.5 + (batch_id % 9) * 0.35)),
                Decimal("1.2"),
                1 if batch_id == 17 else 0,
            ),
        )
        connection.commit()
    return written


def insert_rejects(settings: DatabaseSettings, at: datetime) -> None:
    """Hostile text first, then a few ordinary rejects (the page shows the latest ten)."""
    rows = [
        ("malformed_row", None, "/data/in/events_001.csv", 4, SCRIPT_LINE),
        (
            "bad_price",
            "not a decimal number",
            IMG_FILE,
            9,
            "e9,u9,p9,view,12.x,2025-03-01T12:00:00",
        ),
        (
            "missing_user_id",
            None,
            "/data/in/events_002.csv",
            3,
            "e3,,p7,view,19.99,2025-03-01T12:00:01",
        ),
        (
            "bad_event_type",
            None,
            "/data/in/events_002.csv",
            8,
            "e8,u2,p1,refund,5.00,2025-03-01T12:00:02",
        ),
        (
            "missing_user_id",
            None,
            "/data/in/events_003.csv",
            5,
            "e5,  ,p2,purchase,49.90,2025-03-01T12:00:03",
        ),
    ]
    with connect(settings) as connection:
        cursor = connection.cursor()
        for number, (reason, detail, source, line, raw) in enumerate(rows):
            cursor.execute(
                "INSERT INTO events_rejected (reason, detail, source_file, source_line, raw_line,"
                " query_id, batch_id, rejected_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    reason,
                    detail,
                    source,
                    line,
                    raw,
                    QUERY_ID,
                    number,
                    at + timedelta(seconds=number),
                ),
            )
        connection.commit()


def insert_business(settings: DatabaseSettings, now: datetime) -> int:
    """An hour of events_per_minute and one run, so every part of the page has data; returns
    the views inserted."""
    minute = now.replace(second=0, microsecond=0)
    rows = []
    for back in range(55):  # inside the last hour even when the minute turns meanwhile
        wave = 30 + (back * 7) % 23
        start = minute - timedelta(minutes=back)
        for event_type, share, price in (
            ("view", 1.0, "24.10"),
            ("add_to_cart", 0.3, "27.50"),
            ("remove_from_cart", 0.06, "22.00"),
            ("purchase", 0.1, "31.25"),
        ):
            count = max(1, int(wave * share))
            rows.append((start, event_type, count, Decimal(price) * count))
    with connect(settings) as connection:
        cursor = connection.cursor()
        cursor.executemany(
            "INSERT INTO events_per_minute (minute_start, event_type, events, price_total)"
            " VALUES (%s, %s, %s, %s)",
            rows,
        )
        cursor.execute(
            "INSERT INTO pipeline_runs (run_id, started_at, recorded_at, state, schema_version,"
            " sources_processed, total_duration_seconds, total_records, throughput_rpm,"
            " quality_pass_rate, retries, errors, cpu_peak_percent, memory_peak_mb)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                RUN_ID,
                now - timedelta(minutes=20),
                now,
                "running",
                "2.0",
                40,
                1200,
                840,
                42,
                Decimal("0.93"),
                1,
                0,
                Decimal("38.5"),
                Decimal("812.4"),
            ),
        )
        connection.commit()
    return sum(count for _, event_type, count, _ in rows if event_type == "view")


@dataclass(frozen=True)
class Seed:
    """What the tables hold before the dashboard starts."""

    settings: DatabaseSettings  # the owner's: the test's inserts use it
    written: int
    rejected: int
    views: int


@pytest.fixture
def seeded(sink: SinkUnderTest) -> Seed:
    """40 batches over the last 13 minutes, rejected rows with hostile text, an hour of
    events_per_minute and a run, in a fresh schema with the app's tables."""
    settings = sink.settings("owner")
    now = utcnow()
    written = sum(
        insert_batch(
            settings, batch_id, now - timedelta(seconds=20 * (40 - batch_id)), 21 + batch_id % 6
        )
        for batch_id in range(40)
    )
    insert_rejects(settings, now - timedelta(minutes=3))
    views = insert_business(settings, now)
    return Seed(settings, written, sum(batch_id % 3 for batch_id in range(40)), views)


@pytest.fixture
def dashboard(sink: SinkUnderTest, seeded: Seed, tmp_path: Path) -> Iterator[str]:
    """`python -m spark_app.dashboard` with the read-only account on a free port; yields its
    URL; stopped with SIGTERM, which must end it with status 0."""
    with running_dashboard(
        sink.env("reader"), tmp_path / "dashboard.log", "--interval", "0.5"
    ) as url:
        yield url


def test_live_figures_without_reload_and_escaped_data(
    sink: SinkUnderTest, seeded: Seed, dashboard: str, tmp_path: Path
) -> None:
    written = seeded.written

    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console: {message.text}") if message.type == "error" else None
                ),
            )
            page.goto(dashboard)
            expect = sync_api.expect
            expect(page.locator("#rows-written")).to_have_text(str(written), timeout=15_000)
            expect(page.locator("#rows-rejected")).to_have_text(str(seeded.rejected))
            expect(page.locator("#connection")).to_have_text("live", timeout=10_000)
            expect(page.locator("#health")).to_have_attribute("data-state", "healthy")
            page.evaluate("window.__marker = 'same page'")

            # A new commit reaches the open page without a reload.
            written += insert_batch(seeded.settings, 40, utcnow(), 33)
            expect(page.locator("#rows-written")).to_have_text(str(written), timeout=10_000)
            assert page.evaluate("window.__marker") == "same page"

            # Hostile values from the data are shown as text, never run.
            assert page.evaluate("typeof window.__xss") == "undefined"
            raw_cells = page.locator("#rejects-table td.raw").all_text_contents()
            assert SCRIPT_LINE in raw_cells
            sources = page.locator("#rejects-table td.source").all_text_contents()
            assert f"{IMG_FILE}:9" in sources
            assert page.locator("#rejects-table img, #rejects-table script").count() == 0
            # The funnel: last hour, then all time (everything inserted lies in the last hour).
            counts = page.locator("#funnel .count").all_text_contents()
            assert counts[0] == counts[3] == str(seeded.views)
            for part in ("rejects", "business", "series", "runs", "totals"):
                assert page.locator(f'[data-part="{part}"]').first.is_visible(), part

            page.wait_for_timeout(300)  # let the charts settle for the picture
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1" and sink.kind == "mysql":
                DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, DOCS_SCREENSHOT)
        finally:
            browser.close()
    assert problems == []


def test_falls_back_to_polling_without_the_stream(seeded: Seed, dashboard: str) -> None:
    """A proxy that breaks Server-Sent Events: the page polls /api/snapshot instead."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/api/stream", lambda route: route.abort())
            page.goto(dashboard)
            expect = sync_api.expect
            expect(page.locator("#connection")).to_have_text("polling", timeout=10_000)
            expect(page.locator("#rows-written")).to_have_text(str(seeded.written))
            written = seeded.written + insert_batch(seeded.settings, 40, utcnow(), 30)
            expect(page.locator("#rows-written")).to_have_text(str(written), timeout=10_000)
        finally:
            browser.close()
