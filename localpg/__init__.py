"""A private PostgreSQL cluster in a folder of its own, for development, tests and benchmarks:
never the machine's shared server."""

from localpg.server import (
    Accounts,
    LocalPostgres,
    PgAccount,
    PgConnectKwargs,
    ServerError,
    find_bindir,
    free_port,
)

__all__ = [
    "Accounts",
    "LocalPostgres",
    "PgAccount",
    "PgConnectKwargs",
    "ServerError",
    "find_bindir",
    "free_port",
]
