"""`ingest-integrity`: do the events agree with the users and products they name?

Four checks, one query each, in portable SQL (MySQL 8, MariaDB 10.11, PostgreSQL 15):

- `orphans`: events ingested more than --grace-seconds ago whose user or product is still a
  placeholder (the real dimension row never arrived);
- `price_mismatch`: events whose price differs from the list price of their (real) product;
- `before_registration`: events whose time is before their (real) user registered;
- `duplicate_emails`: emails, compared case-insensitively, that more than one real user has.

Prints one line per kind found, with its count and a few example ids, then a summary line
(`--json`: one JSON object instead). Exit codes: 0 no violation, 1 violations found, 2 bad
usage or a missing database setting, 3 the database unreachable or failing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from spark_app.common.database import SettingsError, sink_from_env
from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from spark_app.common.numbers import number_arg
from spark_app.sink.drivers import connect, database_errors, is_missing_table

DEFAULT_GRACE_SECONDS = 300.0

ORPHANS = "orphans"
PRICE_MISMATCH = "price_mismatch"
BEFORE_REGISTRATION = "before_registration"
DUPLICATE_EMAILS = "duplicate_emails"
KINDS = (ORPHANS, PRICE_MISMATCH, BEFORE_REGISTRATION, DUPLICATE_EMAILS)

# Each query returns one row: the counts, then the smallest and largest offending id as examples.
# A missing dimension row (LEFT JOIN gives NULL) is no placeholder: only is_placeholder counts.
ORPHANS_SQL = """
SELECT COUNT(*),
       COUNT(DISTINCT CASE WHEN u.is_placeholder = TRUE THEN e.user_id END),
       COUNT(DISTINCT CASE WHEN p.is_placeholder = TRUE THEN e.product_id END),
       MIN(CASE WHEN u.is_placeholder = TRUE THEN e.user_id END),
       MAX(CASE WHEN u.is_placeholder = TRUE THEN e.user_id END),
       MIN(CASE WHEN p.is_placeholder = TRUE THEN e.product_id END),
       MAX(CASE WHEN p.is_placeholder = TRUE THEN e.product_id END)
FROM events e
LEFT JOIN users u ON u.user_id = e.user_id
LEFT JOIN products p ON p.product_id = e.product_id
WHERE (u.is_placeholder = TRUE OR p.is_placeholder = TRUE) AND e.ingested_at < %s
"""

PRICE_MISMATCH_SQL = """
SELECT COUNT(*), COUNT(DISTINCT e.product_id), MIN(e.product_id), MAX(e.product_id)
FROM events e
JOIN products p ON p.product_id = e.product_id
WHERE p.is_placeholder = FALSE AND p.list_price IS NOT NULL AND e.price <> p.list_price
"""

BEFORE_REGISTRATION_SQL = """
SELECT COUNT(*), COUNT(DISTINCT e.user_id), MIN(e.user_id), MAX(e.user_id)
FROM events e
JOIN users u ON u.user_id = e.user_id
WHERE u.is_placeholder = FALSE AND u.registered_at IS NOT NULL
  AND e.event_time < u.registered_at
"""

DUPLICATE_EMAILS_SQL = """
SELECT COUNT(*), COALESCE(SUM(d.holders), 0), MIN(d.email), MAX(d.email)
FROM (
    SELECT LOWER(email) AS email, COUNT(*) AS holders
    FROM users
    WHERE is_placeholder = FALSE AND email IS NOT NULL
    GROUP BY LOWER(email)
    HAVING COUNT(*) > 1
) d
"""


@dataclass(frozen=True)
class Finding:
    """One kind of violation: how many, of what, and a few example ids."""

    kind: str
    count: int  # offending events; emails for duplicate_emails
    related: Mapping[str, int] = field(default_factory=dict)  # users, products involved
    examples: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The finding as a JSON object."""
        return {
            "kind": self.kind,
            "count": self.count,
            **self.related,
            "examples": [*self.examples],
        }


def _examples(*values: Any) -> tuple[str, ...]:
    """The non-null ids among `values`, each once, in order."""
    return tuple(dict.fromkeys(str(value) for value in values if value is not None))


def orphans_finding(row: Sequence[Any]) -> Finding | None:
    """The orphans check's row (events, users, products, 4 example ids) as a finding."""
    events, users, products = int(row[0]), int(row[1]), int(row[2])
    if events == 0:
        return None
    return Finding(ORPHANS, events, {"users": users, "products": products}, _examples(*row[3:7]))


def price_mismatch_finding(row: Sequence[Any]) -> Finding | None:
    """The price check's row (events, products, 2 example product ids) as a finding."""
    events, products = int(row[0]), int(row[1])
    if events == 0:
        return None
    return Finding(PRICE_MISMATCH, events, {"products": products}, _examples(*row[2:4]))


def before_registration_finding(row: Sequence[Any]) -> Finding | None:
    """The registration check's row (events, users, 2 example user ids) as a finding."""
    events, users = int(row[0]), int(row[1])
    if events == 0:
        return None
    return Finding(BEFORE_REGISTRATION, events, {"users": users}, _examples(*row[2:4]))


def duplicate_emails_finding(row: Sequence[Any]) -> Finding | None:
    """The email check's row (emails, users holding them, 2 example emails) as a finding."""
    emails, users = int(row[0]), int(row[1])
    if emails == 0:
        return None
    return Finding(DUPLICATE_EMAILS, emails, {"users": users}, _examples(*row[2:4]))


def _with_examples(text: str, finding: Finding) -> str:
    return f"{text} (e.g. {', '.join(finding.examples)})" if finding.examples else text


def describe(finding: Finding, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> str:
    """One line for a finding: `kind: count and what it means (e.g. ids)`."""
    related = finding.related
    if finding.kind == ORPHANS:
        text = (
            f"{finding.count} event(s) name {related.get('users', 0)} placeholder user(s)"
            f" and {related.get('products', 0)} placeholder product(s),"
            f" ingested over {grace_seconds:g} s ago"
        )
    elif finding.kind == PRICE_MISMATCH:
        text = (
            f"{finding.count} event(s) of {related.get('products', 0)} real product(s)"
            " differ from the list price"
        )
    elif finding.kind == BEFORE_REGISTRATION:
        text = (
            f"{finding.count} event(s) of {related.get('users', 0)} real user(s)"
            " happened before the user registered"
        )
    elif finding.kind == DUPLICATE_EMAILS:
        text = f"{finding.count} email(s) used by {related.get('users', 0)} real users"
    else:
        text = f"{finding.count} violation(s)"
    return f"{finding.kind}: {_with_examples(text, finding)}"


def summary(findings: Sequence[Finding]) -> str:
    """The last line: how many kinds of violation were found."""
    if not findings:
        return "integrity: 0 violations"
    return f"integrity: {len(findings)} violation kind(s)"


def lines(findings: Sequence[Finding], grace_seconds: float = DEFAULT_GRACE_SECONDS) -> list[str]:
    """The text output: one line per finding, then the summary."""
    return [*(describe(f, grace_seconds) for f in findings), summary(findings)]


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when anything was found, else 0."""
    return EXIT_FAILED if findings else EXIT_OK


def as_json(findings: Sequence[Finding], grace_seconds: float, now: datetime) -> dict[str, Any]:
    """The `--json` output."""
    return {
        "ok": not findings,
        "violation_kinds": len(findings),
        "findings": [finding.as_dict() for finding in findings],
        "grace_seconds": grace_seconds,
        "checked_at": now.isoformat(timespec="seconds") + "Z",
    }


def utc_naive(moment: datetime) -> datetime:
    """`moment` as naive UTC, the way the tables hold times (naive input is taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


Check = tuple[str, Callable[[Sequence[Any]], Finding | None], bool]
CHECKS: tuple[Check, ...] = (
    (ORPHANS_SQL, orphans_finding, True),
    (PRICE_MISMATCH_SQL, price_mismatch_finding, False),
    (BEFORE_REGISTRATION_SQL, before_registration_finding, False),
    (DUPLICATE_EMAILS_SQL, duplicate_emails_finding, False),
)


def check(connection: Any, grace_seconds: float, now: datetime) -> list[Finding]:
    """Run every check on an open connection; the kinds found, in KINDS order (empty: clean).

    Read only: the transaction is rolled back. Database errors (a missing table among them,
    see drivers.is_missing_table) are the caller's to handle.
    """
    cutoff = utc_naive(now) - timedelta(seconds=grace_seconds)
    findings = []
    cursor = connection.cursor()
    try:
        for sql, to_finding, takes_cutoff in CHECKS:
            if takes_cutoff:
                cursor.execute(sql, (cutoff,))
            else:
                cursor.execute(sql)
            finding = to_finding(cursor.fetchall()[0])
            if finding is not None:
                findings.append(finding)
    finally:
        cursor.close()
        connection.rollback()
    return findings


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="ingest-integrity",
        description="Check that events agree with their users and products (MYSQL_* or PG*).",
        epilog="Exit codes: 0 no violation, 1 violations found, 2 usage or settings,"
        " 3 the database.",
    )
    parser.add_argument(
        "--grace-seconds",
        type=number_arg(float, minimum=0),
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="how long an event may name a placeholder before it is an orphan (default 300)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the findings; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = sink_from_env(os.environ)
    except SettingsError as exc:
        print(f"integrity: {exc}", file=sys.stderr)
        return EXIT_USAGE
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        with connect(settings) as handle:
            findings = check(handle, args.grace_seconds, now)
    except database_errors() as exc:
        if is_missing_table(exc):
            # As ingest-report does: before the stream's first start there is nothing to check.
            print(f"integrity: nothing to check yet ({summarize(exc)})", file=sys.stderr)
            findings = []
        else:
            print(
                f"integrity: cannot use {settings.label} at {settings.address}: {summarize(exc)}",
                file=sys.stderr,
            )
            return EXIT_DATABASE
    if args.json:
        print(json.dumps(as_json(findings, args.grace_seconds, now), indent=2))
    else:
        print("\n".join(lines(findings, args.grace_seconds)))
    return exit_code(findings)


if __name__ == "__main__":
    sys.exit(main())
