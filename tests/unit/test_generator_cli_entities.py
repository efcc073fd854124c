"""Tests of ``python -m generator --entities``: users and products files, and funnel events."""

import csv
import io
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from faker import Faker

from generator import cli
from generator.records import build_catalog
from generator.writer import FileDropper

HEADERS = {
    "event_id,user_id,product_id,event_type,price,event_time": "events",
    "user_id,name,email,city,registered_at": "users",
    "product_id,name,category,list_price": "products",
}
PREFIXES = {"events": "events_", "users": "dim_users_", "products": "dim_products_"}
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dropped:
    """One file the generator dropped: its kind (from the header), name and rows."""

    kind: str
    name: str
    rows: list[dict[str, str]]


class NoWait(cli.StopSignal):
    """A stop signal whose sleep returns at once, so a seeded run covers virtual hours fast."""

    def sleep(self, seconds: float) -> None:
        return None


def run_main(out: Path, *args: str) -> int:
    return cli.main(["--output-dir", str(out), "--interval", "0", *args])


def read(path: Path) -> Dropped:
    text = path.read_text(encoding="utf-8")
    header = text.split("\n", 1)[0]
    assert header in HEADERS, f"{path.name}: unexpected header {header!r}"
    kind = HEADERS[header]
    assert path.name.startswith(PREFIXES[kind])
    return Dropped(kind, path.name, list(csv.DictReader(io.StringIO(text, newline=""))))


def arrival_order(directory: Path, mtime_resolution_ns: int = 1) -> list[Dropped]:
    """The files in the order the stream takes them: modification time, then name."""
    paths = sorted(
        directory.iterdir(), key=lambda p: (p.stat().st_mtime_ns // mtime_resolution_ns, p.name)
    )
    assert all(p.suffix == ".csv" and not p.name.startswith(".") for p in paths)
    return [read(p) for p in paths]


def contents(directory: Path) -> list[tuple[str, list[dict[str, str]]]]:
    return [(f.kind, f.rows) for f in arrival_order(directory)]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def replay(files: list[Dropped]) -> Counter[str]:
    """Check every funnel and reference rule over the files in order; count the event types."""
    users: dict[str, dict[str, str]] = {}
    products: dict[str, dict[str, str]] = {}
    viewed: set[tuple[str, str]] = set()
    in_cart: set[tuple[str, str]] = set()
    counts: Counter[str] = Counter()
    for dropped in files:
        if dropped.kind == "users":
            for row in dropped.rows:
                assert users.setdefault(row["user_id"], row) == row, "a user changed"
            continue
        if dropped.kind == "products":
            for row in dropped.rows:
                assert products.setdefault(row["product_id"], row) == row, "a product changed"
            continue
        for row in dropped.rows:
            counts[row["event_type"]] += 1
            product = products.get(row["product_id"])
            assert product is not None, f"{dropped.name}: {row['product_id']} not dropped yet"
            assert Decimal(row["price"]) == Decimal(product["list_price"])
            assert row["price"] == product["list_price"]
            user_id = row["user_id"]
            if not user_id:
                continue
            user = users.get(user_id)
            assert user is not None, f"{dropped.name}: {user_id} not dropped yet"
            assert when(row["event_time"]) >= when(user["registered_at"])
            key = (user_id, row["product_id"])
            if row["event_type"] == "view":
                viewed.add(key)
            elif row["event_type"] == "add_to_cart":
                assert key in viewed, f"{key} added to the cart unseen"
                in_cart.add(key)
            else:
                assert key in in_cart, f"{row['event_type']} of {key} never added to the cart"
                in_cart.remove(key)
    return counts


def test_entities_flag_parses_and_defaults_off() -> None:
    assert cli.parse_settings([]).entities is False
    assert cli.parse_settings(["--entities"]).entities is True
    assert cli.parse_settings(["--entities", "--no-entities"]).entities is False


def test_no_entities_is_the_default_output(tmp_path: Path) -> None:
    for name, extra in [("default", ()), ("off", ("--no-entities",))]:
        assert run_main(tmp_path / name, "--seed", "9", "--files", "3", *extra) == 0
    assert contents(tmp_path / "default") == contents(tmp_path / "off")
    assert [kind for kind, _ in contents(tmp_path / "off")] == ["events"] * 3


def test_entities_drop_products_and_users_first_and_count_only_events_files(
    tmp_path: Path,
) -> None:
    assert run_main(tmp_path, "--entities", "--seed", "1", "--files", "3") == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    files = arrival_order(tmp_path)
    assert [f.kind for f in files] == [
        "products",
        "users",
        *["users", "events"] * 3,
    ]
    # Write order is also the order of the names' sequence numbers.
    assert [f.name for f in files] == sorted(names, key=lambda n: n.rsplit("_", 1)[1])
    assert len(files[0].rows) == 200
    assert {r["user_id"] for r in files[1].rows} == set(build_catalog().users)
    assert [len(f.rows) for f in files if f.kind == "events"] == [21, 21, 21]
    new_users = [f for f in files[2:] if f.kind == "users"]
    assert all(1 <= len(f.rows) <= 5 for f in new_users)


def test_dimension_files_come_before_the_events_that_use_them(tmp_path: Path) -> None:
    assert run_main(tmp_path, "--entities", "--seed", "2", "--files", "30") == 0
    replay(arrival_order(tmp_path))
    # Also when modification times only have whole seconds: the names keep the order.
    replay(arrival_order(tmp_path, mtime_resolution_ns=1_000_000_000))
    # New users show up in the events of the file they signed up with.
    files = arrival_order(tmp_path)
    used_at_once = 0
    for before, after in pairwise(files):
        if before.kind == "users" and after.kind == "events":
            new = {r["user_id"] for r in before.rows}
            used_at_once += bool(new & {r["user_id"] for r in after.rows})
    assert used_at_once > 10


def test_long_seeded_run_follows_the_funnel(tmp_path: Path) -> None:
    settings = cli.parse_settings(
        ["--output-dir", str(tmp_path), "--seed", "11", "--files", "200", "--entities"]
    )
    fake, rng = cli.seeded_sources(settings.seed)
    stats = cli.run(settings, fake, rng, build_catalog(), FileDropper(tmp_path), NoWait(), Faker())
    assert stats.files == 200
    files = arrival_order(tmp_path)
    counts = replay(files)
    assert sum(counts.values()) == 200 * 21
    assert counts["view"] > counts["add_to_cart"] > counts["purchase"] > counts["remove_from_cart"]
    assert counts["purchase"] > 200
    # The initial population signed up before the virtual clock's epoch, the others during the
    # run (20 virtual seconds per file), and they shop: their first events are after signup.
    users = {r["user_id"]: r for f in files if f.kind == "users" for r in f.rows}
    initial = {r["user_id"] for r in files[1].rows}
    assert all(when(users[u]["registered_at"]) < EPOCH for u in initial)
    joined = [u for u in users if u not in initial]
    assert len(joined) == stats.users - len(initial) >= 200
    assert max(when(users[u]["registered_at"]) for u in joined) > EPOCH
    shoppers = {r["user_id"] for f in files if f.kind == "events" for r in f.rows}
    assert len(shoppers & set(joined)) > 100
    emails = [r["email"] for r in users.values()]
    assert len(set(emails)) == len(emails) == len(users)


def test_entities_are_stable_per_id_across_seeds(tmp_path: Path) -> None:
    for seed in ("3", "4"):
        assert run_main(tmp_path / seed, "--entities", "--seed", seed, "--files", "20") == 0
    runs = [arrival_order(tmp_path / seed) for seed in ("3", "4")]
    products = [[f.rows for f in files if f.kind == "products"] for files in runs]
    assert products[0] == products[1]
    users = [
        {r["user_id"]: r for f in files if f.kind == "users" for r in f.rows} for files in runs
    ]
    assert len(users[0]) > 1_000
    assert users[0] == users[1]
    # The events themselves follow the seed.
    events = [[f.rows for f in files if f.kind == "events"] for files in runs]
    assert events[0] != events[1]

    # Without a seed: the same names, emails and cities per id.
    assert run_main(tmp_path / "unseeded", "--entities", "--files", "2") == 0
    unseeded = {
        r["user_id"]: r
        for f in arrival_order(tmp_path / "unseeded")
        if f.kind == "users"
        for r in f.rows
    }
    common = set(unseeded) & set(users[0])
    assert len(common) >= 1_000
    for user_id in common:
        ours, theirs = unseeded[user_id], users[0][user_id]
        assert (ours["name"], ours["email"], ours["city"]) == (
            theirs["name"],
            theirs["email"],
            theirs["city"],
        )


def test_seeded_entities_run_is_reproducible(tmp_path: Path) -> None:
    for name in ("a", "b"):
        args = ("--entities", "--seed", "5", "--files", "10", "--null-user-rate", "0.2")
        assert run_main(tmp_path / name, *args) == 0
    first = [p.read_bytes() for p in sorted(tmp_path.joinpath("a").iterdir())]
    assert first == [p.read_bytes() for p in sorted(tmp_path.joinpath("b").iterdir())]
    assert len(first) == 22


def test_unseeded_entities_run_keeps_the_rules(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    assert run_main(tmp_path, "--entities", "--files", "5", "--events-per-file", "40") == 0
    files = arrival_order(tmp_path)
    replay(files)
    joined = [r for f in files[2:] if f.kind == "users" for r in f.rows]
    assert len(joined) >= 5
    assert all(when(r["registered_at"]) >= before for r in joined)
    assert all(when(r["registered_at"]) < before for r in files[1].rows)


@pytest.mark.parametrize(("rate", "all_null"), [("0", False), ("1", True)])
def test_null_user_rate_with_entities(tmp_path: Path, rate: str, all_null: bool) -> None:
    assert run_main(tmp_path, "--entities", "--files", "4", "--null-user-rate", rate) == 0
    rows = [r for f in arrival_order(tmp_path) if f.kind == "events" for r in f.rows]
    assert len(rows) == 84
    assert all((r["user_id"] == "") == all_null for r in rows)


def test_entities_run_logs_dimension_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="generator"):
        assert run_main(tmp_path, "--entities", "--seed", "1", "--files", "2") == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "generator.cli"]
    dropped = [m.split()[1] for m in messages if m.startswith("dropped ")]
    assert dropped == [f.name for f in arrival_order(tmp_path)]
    assert any(m.startswith("dropped dim_products_") and "(200 products)" in m for m in messages)
    assert messages[-1].startswith("done: 2 files, 42 events")
