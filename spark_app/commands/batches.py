"""`ingest-batches`: see, set aside and retry the batches the stream could not take.

    list [--json]                 the checkpoint's pending batch (planned, not committed: the
                                  batch a stopped stream stopped on), batches an earlier
                                  release staged, and batches with rows the database refused
    export BATCH --reason TEXT    pending batch N: copy its files into the dead-letter folder
                                  and record it as settled, so that the next start skips it;
                                  QUERY_ID:BATCH_ID (or --refused, every one not exported): its
                                  refused rows as CSV files in the dead-letter folder
    retry BATCH                   QUERY_ID:BATCH_ID (or --refused, every one not retried): drop
                                  its refused rows into the input folder as a new file; pending
                                  batch N: say how (starting the stream retries it first)

Run it with the stream stopped and the stream's own account (MYSQL_*, or PG* with --sink
postgresql or INGEST_SINK=postgresql). Exit codes: 0 nothing pending or refused (list) or
done, 1 a batch pending or refused rows not handled yet (list) or the action refused (one
line says why), 2 usage or settings, 3 the database unreachable or failing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_app.commands import batchstore, deadletter
from spark_app.commands.batchlist import inventory, render
from spark_app.commands.batchsettle import (
    CommandError,
    explain_pending,
    export_pending,
    export_refused,
    exported_line,
    label,
    retry_refused,
)
from spark_app.commands.batchstore import RefusedBatch
from spark_app.common.checkpoint import PendingBatch, pending_batch, query_id
from spark_app.common.database import (
    SINKS,
    DatabaseSettings,
    SettingsError,
    settings_from_env,
    sink_from_env,
)
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from spark_app.common.numbers import number_arg
from spark_app.sink.batch import BatchKey
from spark_app.sink.drivers import connect, database_errors

DEFAULT_CHECKPOINT = "checkpoints/events"
DEFAULT_DEAD_LETTER = "dead_letter"
DEFAULT_INPUT = "streaming_data"
# As ingest-health: a running stream refreshes its run record every minute.
DEFAULT_HEARTBEAT_AGE = 180.0


@dataclass(frozen=True)
class Target:
    """A batch named on the command line: N (of the checkpoint's query) or QUERY_ID:N."""

    query_id: str | None
    batch_id: int

    def key(self, checkpoint_query: str | None) -> BatchKey | None:
        query = self.query_id or checkpoint_query
        return None if query is None else BatchKey(query, self.batch_id)


def parse_target(text: str) -> Target:
    """argparse type of BATCH."""
    query, colon, number = text.strip().rpartition(":")
    if not number.isdecimal() or (colon and not query):
        raise argparse.ArgumentTypeError(f"expected N or QUERY_ID:N, got {text!r}")
    return Target(query or None, int(number))


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="ingest-batches",
        description="See, set aside and retry the batches the stream could not take.",
        epilog="Exit codes: 0 nothing to do (list) or done, 1 a batch pending or refused rows"
        " not handled (list) or the action refused, 2 usage or settings, 3 the database.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--sink", choices=SINKS, default=None, help="default: INGEST_SINK")
    common.add_argument(
        "--checkpoint-dir", default=DEFAULT_CHECKPOINT, help="the stream's checkpoint"
    )
    common.add_argument(
        "--dead-letter-dir",
        type=Path,
        default=Path(DEFAULT_DEAD_LETTER),
        help=f"where set-aside batches and refused rows are kept (default {DEFAULT_DEAD_LETTER})",
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = commands.add_parser("list", parents=[common], help="what is pending or refused")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    for name, text, done in (
        ("export", "set a pending batch aside, or copy refused rows out", "exported"),
        ("retry", "drop refused rows into the input folder again", "retried"),
    ):
        action = commands.add_parser(name, parents=[common], help=text)
        action.add_argument(
            "batch", nargs="?", type=parse_target, metavar="BATCH", help="N or QUERY_ID:N"
        )
        action.add_argument(
            "--refused", action="store_true", help=f"every refused batch not {done} yet"
        )
        action.add_argument(
            "--reason", default="", help="why, kept in the manifest (required to set aside)"
        )
    export = commands.choices["export"]
    export.add_argument(
        "--allow-missing",
        action="store_true",
        help="set a pending batch aside even when some of its files are gone",
    )
    export.add_argument(
        "--max-heartbeat-age",
        type=number_arg(float, above=0),
        default=DEFAULT_HEARTBEAT_AGE,
        help="seconds after which a run record saying `running` counts as a dead stream",
    )
    commands.choices["retry"].add_argument(
        "--input-dir", type=Path, default=Path(DEFAULT_INPUT), help="the stream's drop folder"
    )
    return parser


def _settings(sink: str | None) -> DatabaseSettings:
    try:
        if sink is not None:
            return settings_from_env(sink, os.environ)
        return sink_from_env(os.environ)
    except SettingsError as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from None


def _refused_targets(connection: Any, args: argparse.Namespace) -> list[RefusedBatch]:
    """The refused batches an export or retry acts on."""
    batches = batchstore.refused_batches(connection)
    if args.refused:
        done = deadletter.read_retried if args.action == "retry" else deadletter.read_manifest
        root = args.dead_letter_dir
        return [b for b in batches if done(deadletter.entry_folder(root, b.key)) is None]
    key = args.batch.key(query_id(args.checkpoint_dir))
    found = [batch for batch in batches if batch.key == key]
    if not found:
        pending = pending_batch(args.checkpoint_dir)
        now = f"the pending batch is {pending.batch_id}" if pending else "no batch is pending"
        raise CommandError(
            EXIT_FAILED,
            f"batch {args.batch.batch_id} is neither pending in {args.checkpoint_dir} ({now})"
            " nor a batch with refused rows (ingest-batches list)",
        )
    return found


def _names(target: Target, pending: PendingBatch) -> bool:
    """Whether BATCH names the pending batch (N, or its QUERY_ID:N)."""
    same_query = target.query_id is None or target.query_id == pending.query_id
    return same_query and target.batch_id == pending.batch_id


def act(settings: DatabaseSettings, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Run export or retry: (lines to print, refusals). With --refused, a batch that cannot be
    done is named and the others are done."""
    if args.refused == (args.batch is not None):
        raise CommandError(EXIT_USAGE, f"{args.action}: name one BATCH or pass --refused")
    checkpoint = args.checkpoint_dir
    pending = pending_batch(checkpoint)
    if args.batch is not None and pending is not None and _names(args.batch, pending):
        if args.action == "retry":
            return [explain_pending(pending, checkpoint, settings.kind)], []
        if not args.reason.strip():
            raise CommandError(EXIT_USAGE, "export of the pending batch needs --reason TEXT")
        message = export_pending(
            settings, checkpoint, pending, args.dead_letter_dir, args.reason,
            allow_missing=args.allow_missing, max_heartbeat_age=args.max_heartbeat_age,
        )  # fmt: skip
        return [message], []
    lines: list[str] = []
    refusals: list[str] = []
    with connect(settings) as connection:
        for batch in _refused_targets(connection, args):
            try:
                lines.append(_settle_refused(connection, batch, args))
            except CommandError as exc:
                if not args.refused:
                    raise
                refusals.append(str(exc))
    if not lines and not refusals:
        lines.append(f"{args.action}: no refused batch left to {args.action}")
    return lines, refusals


def _settle_refused(connection: Any, batch: RefusedBatch, args: argparse.Namespace) -> str:
    """Retry or export one batch's refused rows; its line."""
    if args.action == "retry":
        return retry_refused(
            connection, batch, args.dead_letter_dir, args.input_dir, args.reason or "retry"
        )
    folder = deadletter.entry_folder(args.dead_letter_dir, batch.key)
    if deadletter.read_manifest(folder) is not None:
        raise CommandError(EXIT_FAILED, f"{label(batch.key)}: already in {folder}")
    manifest = export_refused(connection, batch, args.dead_letter_dir, args.reason)
    return exported_line(batch, manifest, folder)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one action; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args.sink)
    except CommandError as exc:
        print(f"ingest-batches: {exc}", file=sys.stderr)
        return exc.code
    try:
        if args.action == "list":
            report = inventory(settings, args.checkpoint_dir, args.dead_letter_dir)
            print(json.dumps(report, indent=2) if args.json else render(report))
            return int(report["exit"])
        lines, refusals = act(settings, args)
        for line in lines:
            print(line)
        for refusal in refusals:
            print(f"ingest-batches: {refusal}", file=sys.stderr)
        return EXIT_FAILED if refusals else EXIT_OK
    except CommandError as exc:
        print(f"ingest-batches: {exc}", file=sys.stderr)
        return exc.code
    except database_errors() as exc:
        print(
            f"ingest-batches: {settings.label} at {settings.address}: {summarize(exc)}",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    except OSError as exc:
        print(f"ingest-batches: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
