"""Shared fixtures: one Spark session, one private server per database per test session."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from localmysql import LocalServer, free_port
from localpg import LocalPostgres
from spark_app.job.session import build_session
from tests.sinks import SinkUnderTest, mysql_sink, postgresql_sink

REPO = Path(__file__).resolve().parent.parent
SINK_KINDS = ("mysql", "postgresql")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The one Spark session of the test run (local, 2 cores, no UI)."""
    session = build_session(
        "tests",
        master="local[2]",
        extra={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A private MySQL-compatible server on a free port with a temporary data directory."""
    server = LocalServer(tmp_path_factory.mktemp("mysql"), free_port())
    server.start()
    yield server
    server.stop()


def postgres_base() -> Path:
    """A folder for a private PostgreSQL cluster, outside pytest's tree: its server runs as the
    `postgres` user, which must traverse every parent, and a later pytest run resets the
    permissions of /tmp/pytest-of-<user> to 0700."""
    return Path(tempfile.mkdtemp(prefix="ingest-pg-"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """A private PostgreSQL server (zone America/New_York, to catch any shift) on a free port."""
    base = postgres_base()
    server = LocalPostgres(base, free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def _name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mysql(mysql_server: LocalServer) -> SinkUnderTest:
    """A fresh MySQL schema, migrated by its owner, for one test."""
    return mysql_sink(mysql_server, _name())


@pytest.fixture(params=SINK_KINDS)
def sink(request: pytest.FixtureRequest) -> SinkUnderTest:
    """A fresh schema on each database in turn: the test runs once per sink."""
    if request.param == "mysql":
        return mysql_sink(request.getfixturevalue("mysql_server"), _name())
    return postgresql_sink(request.getfixturevalue("pg_server"), _name())
