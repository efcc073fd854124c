"""`python -m spark_app.commands.runs` without a database: exit codes, messages, history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spark_app.commands import runs
from spark_app.runhistory import store as runstore
from tests.unit.run_samples import changed, valid


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = runs.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A history file holding one earlier run."""
    return write(tmp_path / "history.json", [changed("run_id", "20251231_080000")])


def test_validate_accepts_a_valid_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["validate", str(write(tmp_path / "r.json", valid()))], capsys)
    assert (code, err) == (0, "")
    assert "1 run record(s) valid" in out


def test_validate_lists_each_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = changed("quality_pass_rate", 1.5)
    record["resource_metrics"]["cpu"]["peak_percent"] = 10
    path = write(tmp_path / "r.json", record)
    code, out, err = run(["validate", str(path)], capsys)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"{path}: record 1 (run_id 20260101_190000): quality_pass_rate: must be <= 1, got 1.5",
        f"{path}: record 1 (run_id 20260101_190000): resource_metrics.cpu.peak_percent: 10 is"
        " below avg_percent 45.2",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"total_records": NaN}', "not valid JSON: NaN is not a number JSON allows"),
    ],
)
def test_unreadable_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    code, _, err = run(["validate", str(path)], capsys)
    assert code == 2
    assert message in err


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", str(tmp_path / "absent.json")], capsys)
    assert code == 2
    assert "cannot read" in err


def test_import_appends_to_the_history_file(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.json", [valid(), changed("run_id", "20260101_200000")])
    code, out, _ = run(["import", str(path), "--no-db", "--history", str(history)], capsys)
    assert code == 0
    assert "imported 2 run record(s)" in out
    ids = [r["run_id"] for r in runstore.read_history(history)]
    assert ids == ["20251231_080000", "20260101_190000", "20260101_200000"]
    # Imported verbatim, annotations included.
    assert runstore.read_history(history)[1] == valid()


def test_import_dry_run_writes_nothing(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = history.read_bytes()
    path = write(tmp_path / "r.json", valid())
    code, out, _ = run(
        ["import", str(path), "--dry-run", "--no-db", "--history", str(history)], capsys
    )
    assert code == 0
    assert "nothing written" in out
    assert history.read_bytes() == before


def test_import_refuses_a_run_id_in_the_history(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = history.read_bytes()
    path = write(tmp_path / "r.json", changed("run_id", "20251231_080000"))
    for extra in ([], ["--dry-run"]):
        code, _, err = run(
            ["import", str(path), "--no-db", "--history", str(history), *extra], capsys
        )
        assert code == 1
        assert err.strip() == (
            f"{path}: record 1 (run_id 20251231_080000): run_id: already in {history}"
        )
    assert history.read_bytes() == before


def test_import_of_an_invalid_record_leaves_the_history_untouched(
    tmp_path: Path, history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = history.read_bytes()
    path = write(
        tmp_path / "r.json", [valid(), changed("errors", -1) | {"run_id": "20260102_000000"}]
    )
    code, _, err = run(["import", str(path), "--no-db", "--history", str(history)], capsys)
    assert code == 1
    assert "errors: must be >= 0, got -1" in err
    assert history.read_bytes() == before


def test_import_starts_a_history_file_where_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new" / "history.json"
    path = write(tmp_path / "r.json", valid())
    code, _, _ = run(["import", str(path), "--no-db", "--history", str(target)], capsys)
    assert code == 0
    assert [r["run_id"] for r in runstore.read_history(target)] == ["20260101_190000"]


@pytest.mark.parametrize(
    ("sink", "variable"), [(None, "MYSQL_DATABASE"), ("postgresql", "PGDATABASE")]
)
def test_import_needs_database_settings_unless_no_db(
    tmp_path: Path,
    history: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sink: str | None,
    variable: str,
) -> None:
    for name in ("INGEST_SINK", "MYSQL_DATABASE", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    if sink is not None:
        monkeypatch.setenv("INGEST_SINK", sink)
    before = history.read_bytes()
    path = write(tmp_path / "r.json", valid())
    code, _, err = run(["import", str(path), "--history", str(history)], capsys)
    assert code == 2
    assert f"{variable} is not set (or pass --no-db)" in err
    assert history.read_bytes() == before


def test_history_file_env_is_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "env-history.json"
    monkeypatch.setenv("RUN_HISTORY_FILE", str(target))
    path = write(tmp_path / "r.json", valid())
    assert run(["import", str(path), "--no-db"], capsys)[0] == 0
    assert target.exists()


def test_a_broken_history_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "history.json"
    broken.write_text('{"run_id": "x"}')
    path = write(tmp_path / "r.json", valid())
    code, _, err = run(["import", str(path), "--no-db", "--history", str(broken)], capsys)
    assert code == 2
    assert "must hold a JSON list of run records" in err
    assert json.loads(broken.read_text()) == {"run_id": "x"}


def records(path: Path) -> list[dict[str, Any]]:
    return runstore.read_history(path)


def test_the_apps_own_record_replaces_its_earlier_version(tmp_path: Path) -> None:
    target = tmp_path / "history.json"
    runstore.save_to_history(target, valid())
    runstore.save_to_history(target, changed("errors", 3))
    assert [(r["run_id"], r["errors"]) for r in records(target)] == [("20260101_190000", 3)]
    # Written atomically (test_files.py): no temporary file is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "history.json.lock"]


def test_schema_prints_the_json_schema_of_a_run_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["schema"], capsys)
    assert (code, err) == (0, "")
    schema = json.loads(out)
    assert schema["title"] == "run record"
    assert schema["properties"]["quality_pass_rate"] == {
        "maximum": 1, "minimum": 0, "title": "Quality Pass Rate", "type": "number"
    }  # fmt: skip
    # v1.0 records may leave out what v2.0 added; `_` keys are annotations.
    assert "retries" not in schema["required"]
    assert schema["else"] == {"required": ["retries", "errors", "resource_metrics", "environment"]}
    assert schema["patternProperties"] == {"^_": {}}
    assert schema["additionalProperties"] is False
