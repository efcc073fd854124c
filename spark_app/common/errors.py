"""One line for any error, whichever driver or the JVM raised it (the drivers' own errors:
spark_app.sink.drivers)."""

from __future__ import annotations

import re

_JAVA_SQL_ERROR = re.compile(r"(java\.sql\.\w+|\w+\.jdbc\.\w*Exception|SQL\w*Exception)")


def summarize(exc: BaseException) -> str:
    """One line for an error: the SQL cause of a Java stack trace, or the message."""
    text = str(exc)
    for line in text.splitlines():
        if _JAVA_SQL_ERROR.search(line):
            return line.strip()[:300]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]
