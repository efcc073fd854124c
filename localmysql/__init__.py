"""A private MySQL-compatible server (MariaDB or MySQL) in a folder of its own, for
development, tests and benchmarks: never the machine's shared server."""

from localdb import free_port
from localmysql.server import Accounts, AppAccount, LocalServer, ServerError

__all__ = ["Accounts", "AppAccount", "LocalServer", "ServerError", "free_port"]
