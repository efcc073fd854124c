"""Where the sink lives: one database account's settings, for the job and every command.

Settings come from the environment only (MYSQL_* for MySQL, the libpq PG* variables for
PostgreSQL); a password is never part of a repr, a URL or a log line. Connecting with them is
each database's own: spark_app.sink.drivers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["mysql", "postgresql"]
SINKS: tuple[Kind, ...] = ("mysql", "postgresql")

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_HOST = re.compile(r"^[A-Za-z0-9_.:\-\[\]/]+$")
SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")


class SettingsError(ValueError):
    """A connection setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class DatabaseSettings:
    """One database account: which server, which schema, which user."""

    kind: Kind
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    ssl_mode: str | None = None
    ssl_ca: str | None = None

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def label(self) -> str:
        return "MySQL" if self.kind == "mysql" else "PostgreSQL"


def _port(environ: Mapping[str, str], key: str, default: int) -> int:
    text = environ.get(key, "").strip() or str(default)
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise SettingsError(f"{key} must be a port number, got {text!r}")
    return int(text)


def _host(environ: Mapping[str, str], key: str) -> str:
    host = environ.get(key, "").strip() or "127.0.0.1"
    if not _HOST.match(host):
        raise SettingsError(f"{key} is not a host name or address: {host!r}")
    return host


def _required(environ: Mapping[str, str], key: str) -> str:
    value = environ.get(key, "").strip()
    if not value:
        raise SettingsError(f"{key} is not set")
    return value


def _password(environ: Mapping[str, str], key: str) -> str:
    """KEY, or the content of the file KEY_FILE names (compose secrets, systemd credentials)."""
    path = environ.get(f"{key}_FILE", "").strip()
    if not path:
        return environ.get(key, "")
    try:
        return Path(path).read_text("utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SettingsError(f"{key}_FILE: cannot read {path}: {exc.strerror}") from None


def mysql_from_env(environ: Mapping[str, str]) -> DatabaseSettings:
    """MYSQL_HOST, MYSQL_PORT, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD(_FILE), MYSQL_SSL_*."""
    database = _required(environ, "MYSQL_DATABASE")
    user = _required(environ, "MYSQL_USER")
    if not _IDENTIFIER.match(database):
        raise SettingsError(f"MYSQL_DATABASE must be 1-64 letters, digits or _, got {database!r}")
    ssl_mode = environ.get("MYSQL_SSL_MODE", "").strip().upper() or None
    if ssl_mode is not None and ssl_mode not in SSL_MODES:
        raise SettingsError(f"MYSQL_SSL_MODE must be one of {', '.join(SSL_MODES)}")
    return DatabaseSettings(
        kind="mysql",
        host=_host(environ, "MYSQL_HOST"),
        port=_port(environ, "MYSQL_PORT", 3306),
        database=database,
        user=user,
        password=_password(environ, "MYSQL_PASSWORD"),
        ssl_mode=ssl_mode,
        ssl_ca=environ.get("MYSQL_SSL_CA", "").strip() or None,
    )


def postgresql_from_env(environ: Mapping[str, str]) -> DatabaseSettings:
    """The libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD(_FILE), PGSSLMODE."""
    database = _required(environ, "PGDATABASE")
    if not _IDENTIFIER.match(database):
        raise SettingsError(f"PGDATABASE must be 1-64 letters, digits or _, got {database!r}")
    return DatabaseSettings(
        kind="postgresql",
        host=_host(environ, "PGHOST"),
        port=_port(environ, "PGPORT", 5432),
        database=database,
        user=_required(environ, "PGUSER"),
        password=_password(environ, "PGPASSWORD"),
        ssl_mode=environ.get("PGSSLMODE", "").strip() or None,
        ssl_ca=environ.get("PGSSLROOTCERT", "").strip() or None,
    )


def settings_from_env(kind: str, environ: Mapping[str, str]) -> DatabaseSettings:
    """The settings of the named sink."""
    if kind == "mysql":
        return mysql_from_env(environ)
    if kind == "postgresql":
        return postgresql_from_env(environ)
    raise SettingsError(f"unknown sink {kind!r} (choose {' or '.join(SINKS)})")


def sink_from_env(environ: Mapping[str, str]) -> DatabaseSettings:
    """For the commands: INGEST_SINK (mysql or postgresql), else the one whose variables are set."""
    kind = environ.get("INGEST_SINK", "").strip().lower()
    if not kind:
        kind = (
            "postgresql"
            if environ.get("PGDATABASE") and not environ.get("MYSQL_DATABASE")
            else "mysql"
        )
    return settings_from_env(kind, environ)
