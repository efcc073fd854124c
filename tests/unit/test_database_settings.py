"""Database settings from the environment (spark_app.common.database), for both sinks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from spark_app.common.database import (
    DatabaseSettings,
    SettingsError,
    mysql_from_env,
    postgresql_from_env,
    settings_from_env,
    sink_from_env,
)

SECRET = "s3cret-value"
MYSQL = {"MYSQL_DATABASE": "ingest", "MYSQL_USER": "app", "MYSQL_PASSWORD": SECRET}
Reader = Callable[[Mapping[str, str]], DatabaseSettings]

PG = {"PGDATABASE": "ingest", "PGUSER": "pgapp", "PGPASSWORD": SECRET}


def test_mysql_defaults() -> None:
    assert mysql_from_env(MYSQL) == DatabaseSettings(
        kind="mysql", host="127.0.0.1", port=3306, database="ingest", user="app", password=SECRET
    )


def test_mysql_every_variable() -> None:
    settings = mysql_from_env(
        {**MYSQL, "MYSQL_HOST": " db.internal ", "MYSQL_PORT": "3307",
         "MYSQL_SSL_MODE": " verify_ca ", "MYSQL_SSL_CA": "/etc/ssl/ca.pem"}
    )  # fmt: skip
    assert (settings.host, settings.port) == ("db.internal", 3307)
    assert (settings.ssl_mode, settings.ssl_ca) == ("VERIFY_CA", "/etc/ssl/ca.pem")
    assert settings.address == "app@db.internal:3307/ingest"
    assert settings.label == "MySQL"


def test_postgresql_defaults_and_variables() -> None:
    assert postgresql_from_env(PG) == DatabaseSettings(
        kind="postgresql",
        host="127.0.0.1",
        port=5432,
        database="ingest",
        user="pgapp",
        password=SECRET,
    )
    settings = postgresql_from_env(
        {**PG, "PGHOST": "/var/run/postgresql", "PGPORT": "6543", "PGSSLMODE": "verify-full",
         "PGSSLROOTCERT": "/etc/ssl/root.crt"}
    )  # fmt: skip
    assert (settings.host, settings.port) == ("/var/run/postgresql", 6543)
    assert (settings.ssl_mode, settings.ssl_ca) == ("verify-full", "/etc/ssl/root.crt")
    assert settings.label == "PostgreSQL"


@pytest.mark.parametrize(
    ("read", "environ"),
    [(mysql_from_env, {**MYSQL, "MYSQL_SSL_MODE": "REQUIRED"}), (postgresql_from_env, PG)],
)
def test_the_password_is_never_in_repr_or_address(read: Reader, environ: dict[str, str]) -> None:
    settings = read(environ)
    assert settings.password == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.address


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_mysql_password_file_wins_over_the_variable(tmp_path: Path, ending: str) -> None:
    secret = tmp_path / "mysql_password"
    secret.write_text(f" from file {ending}", "utf-8")
    settings = mysql_from_env({**MYSQL, "MYSQL_PASSWORD_FILE": str(secret)})
    # Only the line ending is dropped: spaces can be part of a password.
    assert settings.password == " from file "
    assert "from file" not in repr(settings)


def test_pgpassword_file(tmp_path: Path) -> None:
    secret = tmp_path / "pg_password"
    secret.write_text("pg-from-file\n", "utf-8")
    environ = {"PGDATABASE": "ingest", "PGUSER": "pgapp", "PGPASSWORD_FILE": str(secret)}
    assert postgresql_from_env(environ).password == "pg-from-file"


@pytest.mark.parametrize(
    ("read", "environ", "key"),
    [
        (mysql_from_env, MYSQL, "MYSQL_PASSWORD_FILE"),
        (postgresql_from_env, PG, "PGPASSWORD_FILE"),
    ],
)
def test_an_unreadable_password_file_names_its_variable(
    tmp_path: Path, read: Reader, environ: dict[str, str], key: str
) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(SettingsError, match=f"^{key}: cannot read {missing}"):
        read({**environ, key: str(missing)})


def test_no_password_is_an_empty_one() -> None:
    environ = {"MYSQL_DATABASE": "ingest", "MYSQL_USER": "app"}
    assert mysql_from_env(environ).password == ""


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MYSQL_USER": "app"}, "MYSQL_DATABASE is not set"),
        ({**MYSQL, "MYSQL_DATABASE": "  "}, "MYSQL_DATABASE is not set"),
        ({"MYSQL_DATABASE": "ingest"}, "MYSQL_USER is not set"),
        ({**MYSQL, "MYSQL_DATABASE": "in`gest"}, "MYSQL_DATABASE must be 1-64 letters"),
        ({**MYSQL, "MYSQL_DATABASE": "d" * 65}, "MYSQL_DATABASE must be 1-64 letters"),
        ({**MYSQL, "MYSQL_PORT": "x"}, "MYSQL_PORT must be a port number, got 'x'"),
        ({**MYSQL, "MYSQL_PORT": "0"}, "MYSQL_PORT must be a port number"),
        ({**MYSQL, "MYSQL_PORT": "65536"}, "MYSQL_PORT must be a port number"),
        ({**MYSQL, "MYSQL_PORT": "-1"}, "MYSQL_PORT must be a port number"),
        ({**MYSQL, "MYSQL_HOST": "db; drop"}, "MYSQL_HOST is not a host name or address"),
        ({**MYSQL, "MYSQL_SSL_MODE": "sometimes"}, "MYSQL_SSL_MODE must be one of DISABLED,"),
        ({**MYSQL, "MYSQL_SSL_MODE": "verify-full"}, "MYSQL_SSL_MODE must be one of"),
    ],
)
def test_bad_mysql_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        mysql_from_env(environ)


@pytest.mark.parametrize(
    "mode", ["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"]
)
def test_every_mysql_ssl_mode_is_accepted(mode: str) -> None:
    assert mysql_from_env({**MYSQL, "MYSQL_SSL_MODE": mode.lower()}).ssl_mode == mode


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PGUSER": "pgapp"}, "PGDATABASE is not set"),
        ({"PGDATABASE": "ingest"}, "PGUSER is not set"),
        ({**PG, "PGDATABASE": "a-b"}, "PGDATABASE must be 1-64 letters"),
        ({**PG, "PGPORT": "5432x"}, "PGPORT must be a port number"),
        ({**PG, "PGHOST": "host name"}, "PGHOST is not a host name or address"),
    ],
)
def test_bad_postgresql_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{message}"):
        postgresql_from_env(environ)


def test_settings_from_env_by_sink_name() -> None:
    both = {**MYSQL, **PG}
    assert settings_from_env("mysql", both).kind == "mysql"
    assert settings_from_env("postgresql", both).kind == "postgresql"
    with pytest.raises(
        SettingsError, match="unknown sink 'oracle' \\(choose mysql or postgresql\\)"
    ):
        settings_from_env("oracle", both)


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({**MYSQL, **PG, "INGEST_SINK": "postgresql"}, "postgresql"),
        ({**MYSQL, **PG, "INGEST_SINK": " PostgreSQL "}, "postgresql"),
        ({**MYSQL, **PG, "INGEST_SINK": "mysql"}, "mysql"),
        ({**MYSQL, **PG}, "mysql"),
        (PG, "postgresql"),
        (MYSQL, "mysql"),
    ],
)
def test_sink_from_env_picks_the_sink(environ: dict[str, str], kind: str) -> None:
    assert sink_from_env(environ).kind == kind


def test_sink_from_env_with_nothing_set_asks_for_mysql() -> None:
    with pytest.raises(SettingsError, match=r"^MYSQL_DATABASE is not set"):
        sink_from_env({})


def test_sink_from_env_named_sink_needs_its_variables() -> None:
    with pytest.raises(SettingsError, match=r"^PGDATABASE is not set"):
        sink_from_env({**MYSQL, "INGEST_SINK": "postgresql"})
    with pytest.raises(SettingsError, match="unknown sink 'sqlite'"):
        sink_from_env({**MYSQL, "INGEST_SINK": "sqlite"})


def test_a_port_of_superscript_digits_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^MYSQL_PORT must be a port number"):
        mysql_from_env({**MYSQL, "MYSQL_PORT": "3\u00b2"})
