"""Tests of the generator command line: flags, seeding, the loop, stop signals (the real process
and its signals: tests/integration/test_generator_process.py)."""

import logging
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from generator import cli
from generator.records import MAX_EVENT_GAP_MS, build_catalog
from generator.writer import FileDropper
from tests.generator_files import csv_files, read_rows


def run_main(out: Path, *args: str) -> int:
    return cli.main(["--output-dir", str(out), "--interval", "0", *args])


def contents(directory: Path) -> list[bytes]:
    return [p.read_bytes() for p in csv_files(directory)]


class VirtualTime(cli.StopSignal):
    """A stop signal on a clock the test owns: sleep moves the clock and records the wait."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_files_flag_writes_that_many_complete_files(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "drop"  # created when missing
    assert run_main(out, "--files", "3", "--seed", "1") == 0
    files = csv_files(out)
    assert len(files) == 3
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]
    for path in files:
        lines = path.read_text(encoding="utf-8").split("\n")
        assert lines[0] == "event_id,user_id,product_id,event_type,price,event_time"
        assert len(lines) == 23 and lines[-1] == ""
        assert len(read_rows(path)) == 21


def test_events_per_file_flag(tmp_path: Path) -> None:
    assert run_main(tmp_path, "--files", "2", "--events-per-file", "5") == 0
    assert [len(read_rows(p)) for p in csv_files(tmp_path)] == [5, 5]


def test_same_seed_gives_identical_files_other_seed_differs(tmp_path: Path) -> None:
    runs = {}
    for name, seed in [("a", "7"), ("b", "7"), ("c", "8")]:
        assert run_main(tmp_path / name, "--seed", seed, "--files", "3") == 0
        runs[name] = contents(tmp_path / name)
    assert len(runs["a"]) == 3
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]
    assert all(x != y for x, y in zip(runs["a"], runs["c"], strict=True))


def test_virtual_time_advances_one_interval_per_file_and_never_back() -> None:
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    assert cli.virtual_time(0, 20, None) == epoch
    assert cli.virtual_time(2, 20, epoch + timedelta(seconds=20, milliseconds=500)) == (
        epoch + timedelta(seconds=40)
    )
    late = epoch + timedelta(seconds=45)
    assert cli.virtual_time(2, 20, late) == late + timedelta(milliseconds=1)


def test_seeded_event_times_follow_the_virtual_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.StopSignal, "sleep", lambda self, seconds: None)
    args = ["--seed", "3", "--files", "3", "--events-per-file", "1", "--interval", "0.05"]
    assert cli.main(["--output-dir", str(tmp_path), *args]) == 0
    times = [read_rows(p)[0]["event_time"] for p in csv_files(tmp_path)]
    assert times == [
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:00:00.050Z",
        "2026-01-01T00:00:00.100Z",
    ]


def test_seeded_event_times_increase_across_files_without_interval(tmp_path: Path) -> None:
    assert run_main(tmp_path, "--seed", "4", "--files", "3") == 0
    times = [r["event_time"] for p in csv_files(tmp_path) for r in read_rows(p)]
    assert times[0] == "2026-01-01T00:00:00.000Z"
    assert len(times) == 63
    assert times == sorted(times)
    assert len(set(times)) == 63


def test_unseeded_event_times_are_now_in_utc(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    assert run_main(tmp_path, "--files", "1") == 0
    after = datetime.now(UTC)
    times = [datetime.fromisoformat(r["event_time"]) for r in read_rows(csv_files(tmp_path)[0])]
    assert all(t.utcoffset() == timedelta(0) for t in times)
    # The first event is the clock read during the run; the rest follow it in gaps of at most
    # MAX_EVENT_GAP_MS.
    assert before <= times[0] <= after
    assert times[-1] - times[0] <= timedelta(milliseconds=MAX_EVENT_GAP_MS * (len(times) - 1))
    assert times == sorted(times)


def test_unseeded_runs_differ(tmp_path: Path) -> None:
    assert run_main(tmp_path / "a", "--files", "1") == 0
    assert run_main(tmp_path / "b", "--files", "1") == 0
    assert contents(tmp_path / "a") != contents(tmp_path / "b")


def test_users_and_products_come_from_pools_recur_and_keep_prices(tmp_path: Path) -> None:
    catalog = build_catalog()
    prices = {p.product_id: p.price for p in catalog.products}
    for seed in ("1", "2"):
        assert run_main(tmp_path / seed, "--seed", seed, "--files", "10") == 0
    rows_by_file = [read_rows(p) for d in ("1", "2") for p in csv_files(tmp_path / d)]
    rows = [row for file_rows in rows_by_file for row in file_rows]
    assert len(rows) == 420
    assert {r["user_id"] for r in rows} - {""} <= set(catalog.users)
    assert {r["product_id"] for r in rows} <= set(prices)
    seen_prices: dict[str, set[str]] = {}
    for row in rows:
        seen_prices.setdefault(row["product_id"], set()).add(row["price"])
    assert all(len(found) == 1 for found in seen_prices.values())
    assert all(Decimal(found.pop()) == prices[pid] for pid, found in seen_prices.items())
    # Recurrence across files: some user and some product each show up in two different files.
    user_files: dict[str, set[int]] = {}
    product_files: dict[str, set[int]] = {}
    for index, file_rows in enumerate(rows_by_file):
        for row in file_rows:
            if row["user_id"]:
                user_files.setdefault(row["user_id"], set()).add(index)
            product_files.setdefault(row["product_id"], set()).add(index)
    assert any(len(files) >= 2 for files in user_files.values())
    assert sum(len(files) >= 2 for files in product_files.values()) > 50


@pytest.mark.parametrize(("rate", "expect_all_null"), [("0", False), ("1", True)])
def test_null_user_rate_flag_extremes(tmp_path: Path, rate: str, expect_all_null: bool) -> None:
    assert run_main(tmp_path, "--files", "5", "--null-user-rate", rate) == 0
    users = [r["user_id"] for p in csv_files(tmp_path) for r in read_rows(p)]
    assert len(users) == 105
    assert all((user == "") == expect_all_null for user in users)


def test_duration_stops_the_run_at_its_deadline(tmp_path: Path) -> None:
    args = ["--output-dir", str(tmp_path), "--interval", "0.25", "--duration", "0.625"]
    time = VirtualTime()
    fake, rng = cli.seeded_sources(1)
    stats = cli.run(
        cli.parse_settings(args), fake, rng, build_catalog(), FileDropper(tmp_path), time,
        clock=lambda: time.now,
    )  # fmt: skip
    # Files at 0, 0.25 and 0.5 s; the last wait is cut short by the deadline.
    assert time.waits == [0.25, 0.25, 0.125]
    assert stats.files == len(csv_files(tmp_path)) == 3
    assert stats.elapsed == 0.625


def test_logs_one_line_per_file_and_a_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="generator"):
        assert run_main(tmp_path, "--files", "2", "--null-user-rate", "0") == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "generator.cli"]
    dropped = [m for m in messages if m.startswith("dropped ")]
    assert dropped == [f"dropped {p.name} (21 events, 0 null users)" for p in csv_files(tmp_path)]
    assert messages[-1].startswith("done: 2 files, 42 events (0 null users) in ")
    assert "events/s" in messages[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "-1"], "--interval: must be >= 0"),
        (["--interval", "soon"], "--interval: must be a number"),
        (["--interval", "nan"], "--interval: must be a finite number"),
        (["--events-per-file", "0"], "--events-per-file: must be >= 1"),
        (["--files", "0"], "--files: must be >= 1"),
        (["--files", "2.5"], "--files: must be a whole number"),
        (["--duration", "0"], "--duration: must be > 0"),
        (["--null-user-rate", "1.5"], "--null-user-rate: must be <= 1"),
        (["--null-user-rate", "-0.1"], "--null-user-rate: must be >= 0"),
        (["--seed", "x"], "--seed: invalid int value"),
        (["--log-level", "LOUD"], "--log-level: invalid choice"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["--output-dir", str(tmp_path / "out"), *args])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_defaults_match_the_contract() -> None:
    settings = cli.parse_settings([])
    assert settings.output_dir == Path("streaming_data")
    assert settings.interval == 20.0
    assert settings.events_per_file == 21
    assert settings.files is None
    assert settings.duration is None
    assert settings.seed is None
    assert settings.null_user_rate == 0.05
    assert settings.log_level == "INFO"


def test_unwritable_output_dir_exits_1(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with caplog.at_level(logging.ERROR, logger="generator"):
        assert run_main(blocker / "out", "--files", "1") == 1
    assert any("cannot write to" in r.getMessage() for r in caplog.records)


def test_a_stop_signal_ends_the_run_after_the_file_in_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As when SIGINT arrives while the generator waits between files.
    monkeypatch.setattr(
        cli.StopSignal, "sleep", lambda self, seconds: self.handle(signal.SIGINT, None)
    )
    with caplog.at_level(logging.INFO, logger="generator"):
        assert cli.main(["--output-dir", str(tmp_path), "--interval", "30"]) == 0
    files = csv_files(tmp_path)
    assert len(files) == 1
    assert len(read_rows(files[0])) == 21
    assert [p.name for p in tmp_path.iterdir()] == [files[0].name]
    assert "stopped by SIGINT" in [r.getMessage() for r in caplog.records]


def test_signals_go_to_the_stop_signal_and_the_handlers_are_restored() -> None:
    signals = (signal.SIGINT, signal.SIGTERM)
    before = [signal.getsignal(sig) for sig in signals]
    stop = cli.StopSignal()
    with cli.stop_on_signals(stop):
        assert [signal.getsignal(sig) for sig in signals] == [stop.handle, stop.handle]
    assert [signal.getsignal(sig) for sig in signals] == before
    assert not stop.requested
    stop.handle(signal.SIGTERM, None)
    assert (stop.requested, stop.signal_name) == (True, "SIGTERM")
