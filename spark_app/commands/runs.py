"""`python -m spark_app.commands.runs`: check run records and import them into the run history.

    validate FILE              the record rules only (one record or a list; run ids not repeated)
    import FILE [--dry-run]    the rules, plus run ids new to the history file and pipeline_runs;
                               then appends to the file and inserts into the table
                               (--dry-run: check everything, write nothing)
    schema                     print the JSON Schema of a run record

Exit codes: 0 valid (and imported), 1 a record broke a rule or its run id is known already (one
line per problem on stderr; nothing written), 2 bad usage, unreadable file, bad JSON or a missing
database setting, 3 the database unreachable or failing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from spark_app.common.database import DatabaseSettings, SettingsError, sink_from_env
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_INVALID, EXIT_OK, EXIT_USAGE
from spark_app.runhistory import store as runstore
from spark_app.runhistory.record import RunRecord
from spark_app.runhistory.rules import (
    InvalidRecordError,
    parse_records,
    record_schema,
    records_of,
)
from spark_app.sink import dialect_for
from spark_app.sink.drivers import connect, database_errors, is_duplicate_key
from spark_app.sink.schema import SchemaError


class CommandError(Exception):
    """Ends the command with an exit code and one message per line."""

    def __init__(self, code: int, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = lines


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def load_document(path: Path) -> Any:
    """The JSON in `path` (NaN and Infinity refused); CommandError 2 when unreadable."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CommandError(EXIT_USAGE, f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(EXIT_USAGE, f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise CommandError(EXIT_USAGE, f"{path}: not valid JSON: {exc}") from None


def check_file(path: Path) -> tuple[list[dict[str, Any]], list[RunRecord]]:
    """The file's records, raw and checked; CommandError 1 lists every broken rule."""
    document = load_document(path)
    try:
        records = parse_records(document)
    except InvalidRecordError as exc:
        raise CommandError(EXIT_INVALID, *(f"{path}: {line}" for line in exc.problems)) from None
    return [item for item in records_of(document) if isinstance(item, dict)], records


def _database() -> DatabaseSettings:
    try:
        return sink_from_env(os.environ)
    except SettingsError as exc:
        raise CommandError(EXIT_USAGE, f"{exc} (or pass --no-db)") from None


def _known_in_table(settings: DatabaseSettings, records: list[RunRecord]) -> set[str]:
    try:
        dialect_for(settings).ensure_schema()  # pipeline_runs may not exist yet
        with connect(settings) as handle:
            return runstore.existing_runs(handle, [r.run_id for r in records])
    except database_errors(SchemaError) as exc:
        raise CommandError(
            EXIT_DATABASE, f"cannot use {settings.label} at {settings.address}: {summarize(exc)}"
        ) from None


def _duplicates(
    path: Path, records: list[RunRecord], history: Path, in_table: set[str]
) -> list[str]:
    try:
        in_history = runstore.history_run_ids(history)
    except runstore.HistoryError as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from None
    problems = []
    for number, record in enumerate(records, start=1):
        where = f"{path}: record {number} (run_id {record.run_id}): run_id"
        if record.run_id in in_history:
            problems.append(f"{where}: already in {history}")
        if record.run_id in in_table:
            problems.append(f"{where}: already in table pipeline_runs")
    return problems


def _write(
    settings: DatabaseSettings | None,
    raw: list[dict[str, Any]],
    records: list[RunRecord],
    history: Path,
) -> None:
    """Insert into pipeline_runs (one transaction), then append to the history file."""
    if settings is not None:
        try:
            with connect(settings) as handle:
                runstore.insert_runs(handle, records, "imported")
        except database_errors() as exc:
            if is_duplicate_key(exc):
                raise CommandError(
                    EXIT_INVALID, f"run_id: already in pipeline_runs: {summarize(exc)}"
                ) from None
            raise CommandError(EXIT_DATABASE, f"cannot insert: {summarize(exc)}") from None
    try:
        runstore.append_to_history(history, raw)
    except (runstore.DuplicateRunError, runstore.HistoryError) as exc:
        if settings is not None:  # keep the table and the file in step
            with connect(settings) as handle:
                runstore.delete_runs(handle, [r.run_id for r in records])
        code = EXIT_INVALID if isinstance(exc, runstore.DuplicateRunError) else EXIT_USAGE
        raise CommandError(code, str(exc)) from None


def validate(path: Path) -> str:
    """The `validate` command."""
    _, records = check_file(path)
    return f"{path}: {len(records)} run record(s) valid"


def import_records(path: Path, history: Path, use_db: bool, dry_run: bool) -> str:
    """The `import` command."""
    raw, records = check_file(path)
    settings = _database() if use_db else None
    in_table = _known_in_table(settings, records) if settings else set()
    problems = _duplicates(path, records, history, in_table)
    if problems:
        raise CommandError(EXIT_INVALID, *problems)
    where = f"{history}" + (" and pipeline_runs" if settings else "")
    if dry_run:
        return f"{path}: {len(records)} run record(s) valid and new to {where}; nothing written"
    _write(settings, raw, records, history)
    return f"{path}: imported {len(records)} run record(s) into {where}"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="ingest-runs",
        description="Check v2.0 run records and import them into the run history.",
        epilog="Exit codes: 0 ok, 1 invalid or duplicate, 2 usage or unreadable, 3 the database.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check the record rules only")
    check.add_argument("file", type=Path, help="JSON: one run record or a list of them")
    load = commands.add_parser("import", help="check, then append to history and pipeline_runs")
    load.add_argument("file", type=Path, help="JSON: one run record or a list of them")
    load.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    load.add_argument(
        "--history",
        type=Path,
        default=None,
        help=f"history file (default: ${runstore.HISTORY_ENV} or {runstore.DEFAULT_HISTORY_FILE})",
    )
    load.add_argument(
        "--no-db", action="store_true", help="leave pipeline_runs out (no database settings needed)"
    )
    commands.add_parser("schema", help="print the JSON Schema of a run record")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "schema":
            message = json.dumps(record_schema(), indent=2)
        elif args.command == "validate":
            message = validate(args.file)
        else:
            history = args.history or runstore.history_path()
            message = import_records(args.file, history, not args.no_db, args.dry_run)
    except CommandError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    print(message)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
