"""Integration-tier fixtures: one Spark session and one private server per database per test
session; commands run by the tests keep their run history out of the repository (the app's
default is runs/history.json under the working directory)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from localmysql import LocalServer, free_port
from localpg import LocalPostgres
from spark_app.job.session import build_session
from tests.conftest import postgres_base
from tests.sinks import SinkUnderTest, mysql_sink, postgresql_sink

SINK_KINDS = ("mysql", "postgresql")


@pytest.fixture(scope="session", autouse=True)
def run_history_outside_the_repository(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """RUN_HISTORY_FILE in a temporary folder for every spark-submit the tests start."""
    previous = os.environ.get("RUN_HISTORY_FILE")
    os.environ["RUN_HISTORY_FILE"] = str(tmp_path_factory.mktemp("runs") / "history.json")
    yield
    if previous is None:
        os.environ.pop("RUN_HISTORY_FILE", None)
    else:
        os.environ["RUN_HISTORY_FILE"] = previous


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
