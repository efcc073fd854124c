"""MySQL (and MariaDB) as its driver sees it: how to connect, and what its error numbers mean.

The dialect (dialect.py: bulk load, upserts, grants) reads its codes from here. This module
loads no Arrow, so the commands connect through it (sink.drivers) without the dialect.
"""

from __future__ import annotations

from typing import Any

import mysql.connector
from mysql.connector.constants import ClientFlag

from spark_app.common.database import DatabaseSettings

NO_SUCH_TABLE = 1146
DUPLICATE_KEY = 1062
# Worth a retry: connection refused, lost or reset, server going away, lock waits, deadlocks,
# too many connections, a server shutting down.
TRANSIENT_ERRNOS = frozenset({1040, 1053, 1205, 1213, 2002, 2003, 2005, 2006, 2013, 2055, 4031})
PERMISSION_ERRNOS = frozenset({1044, 1045, 1142, 1143, 1227})
# The database refused some rows' values: NULL in NOT NULL (1048), a duplicate in a unique
# index added by hand (1062), truncated or out-of-range values (1264, 1265, 1292, 1366, 1367,
# 1406, 1690), a foreign key (1216, 1452), a trigger's SIGNAL (1644), a CHECK constraint
# (3819 on MySQL, 4025 on MariaDB).
ROW_REFUSAL_ERRNOS = frozenset(
    {1048, 1062, 1216, 1264, 1265, 1292, 1366, 1367, 1406, 1452, 1644, 1690, 3819, 4025}
)


def connect_args(settings: DatabaseSettings, timeout: int) -> dict[str, Any]:
    """mysql.connector.connect()'s arguments: autocommit off, session time zone UTC."""
    args: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "database": settings.database,
        "user": settings.user,
        "password": settings.password,
        "connection_timeout": timeout,
        "autocommit": False,
        "time_zone": "+00:00",
        # Without FOUND_ROWS a no-op duplicate update counts 0 rows: rowcount = inserted.
        "client_flags": [-ClientFlag.FOUND_ROWS],
    }
    mode = settings.ssl_mode
    if mode == "DISABLED":
        args["ssl_disabled"] = True
    elif mode is not None:
        if settings.ssl_ca:
            args["ssl_ca"] = settings.ssl_ca
        args["ssl_verify_cert"] = mode in ("VERIFY_CA", "VERIFY_IDENTITY")
        args["ssl_verify_identity"] = mode == "VERIFY_IDENTITY"
    return args


def open_connection(settings: DatabaseSettings, timeout: int, **extra: Any) -> Any:
    """A new connection (connect_args, `extra` added or replacing); the caller closes it."""
    return mysql.connector.connect(**{**connect_args(settings, timeout), **extra})


def driver_error() -> type[BaseException]:
    """The base class of the driver's errors."""
    return mysql.connector.Error


def is_missing_table(exc: BaseException) -> bool:
    """True for 'table does not exist'."""
    return isinstance(exc, mysql.connector.Error) and exc.errno == NO_SUCH_TABLE


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether an insert hit a primary or unique key that is already there."""
    return isinstance(exc, mysql.connector.Error) and exc.errno == DUPLICATE_KEY
