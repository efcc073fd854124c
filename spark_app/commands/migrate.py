"""`ingest-migrate`: create or upgrade the sink's tables with the schema owner's account.

The stream's own account needs no ALTER, CREATE or DROP: run this once per release with an
account that owns the schema (the same MYSQL_* or PG* variables, INGEST_SINK chooses).
Exit codes: 0 up to date, 2 a missing or invalid setting, 3 the database refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from spark_app.common.database import SINKS, SettingsError, settings_from_env
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_OK, EXIT_USAGE
from spark_app.sink import dialect_for
from spark_app.sink.drivers import database_errors
from spark_app.sink.schema import SchemaError, migration_files


def main(argv: Sequence[str] | None = None) -> int:
    """Apply every migration not applied yet; print the resulting version."""
    parser = argparse.ArgumentParser(prog="ingest-migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--sink", choices=SINKS, default=os.environ.get("INGEST_SINK") or "mysql")
    parser.add_argument("--grant-writer", metavar="ACCOUNT", help="the stream's account")
    parser.add_argument("--grant-reader", metavar="ACCOUNT", help="the commands' read-only account")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_env(args.sink, os.environ)
    except SettingsError as exc:
        print(f"ingest-migrate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        dialect = dialect_for(settings)
        version = dialect.ensure_schema()
        if args.grant_writer or args.grant_reader:
            dialect.grant(args.grant_writer, args.grant_reader)
    except database_errors(SchemaError, ValueError) as exc:
        print(f"ingest-migrate: {settings.label} at {settings.address}: {summarize(exc)}",
              file=sys.stderr)  # fmt: skip
        return EXIT_DATABASE
    latest = migration_files(settings.kind)[-1][0]
    print(f"{settings.label} {settings.address}: schema at version {version} of {latest}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
