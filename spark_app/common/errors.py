"""What a failed database call means: worth a retry or not, and one line to report it.

Kept apart from the sink so that the commands (health, report, runs) need not import Spark.
"""

from __future__ import annotations

import re

import mysql.connector

# MySQL errors that retrying cannot fix: bad credentials, missing rights or schema.
_PERMANENT_ERRNOS = frozenset({1044, 1045, 1049, 1142, 1143, 1146, 1054})
_JAVA_SQL_ERROR = re.compile(r"(java\.sql\.\w+|\w+\.jdbc\.\w*Exception|SQL\w*Exception)")


def is_transient(exc: BaseException) -> bool:
    """Whether a failed attempt is worth retrying (a lost or refused connection, a deadlock)."""
    if isinstance(exc, mysql.connector.Error):
        return exc.errno not in _PERMANENT_ERRNOS and not isinstance(
            exc, mysql.connector.ProgrammingError
        )
    text = str(exc)
    return bool(_JAVA_SQL_ERROR.search(text)) and "Access denied" not in text


def summarize(exc: BaseException) -> str:
    """One line for an error: the SQL cause of a Java stack trace, or the message."""
    text = str(exc)
    for line in text.splitlines():
        if _JAVA_SQL_ERROR.search(line):
            return line.strip()[:300]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]
