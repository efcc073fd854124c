"""Shared fixtures: one Spark session, one private MySQL-compatible server per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from localmysql import AppAccount, LocalServer, free_port
from spark_app.job.session import build_session

REPO = Path(__file__).resolve().parent.parent


def driver_jar() -> Path:
    """The JDBC driver that scripts/setup put in jars/."""
    jars = sorted((REPO / "jars").glob("*.jar"))
    if not jars:
        pytest.exit("no JDBC driver in jars/: run scripts/setup first", returncode=2)
    return jars[0]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The one Spark session of the test run (local, 2 cores, no UI)."""
    jar = str(driver_jar())
    session = build_session(
        "tests",
        master="local[2]",
        extra={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.jars": jar,
            "spark.driver.extraClassPath": jar,
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def mysql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A private server on a free port with a temporary data directory."""
    server = LocalServer(tmp_path_factory.mktemp("mysql"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mysql_account(mysql_server: LocalServer) -> AppAccount:
    """A fresh schema and a least-privilege account on it, for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    return mysql_server.create_account(name, name)


@pytest.fixture
def app_env(mysql_account: AppAccount) -> dict[str, str]:
    """Environment for the real commands: the account's MYSQL_* and the venv first on PATH."""
    env = dict(os.environ)
    env.update(mysql_account.environ())
    venv_bin = str(Path(os.sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.pop("SPARK_HOME", None)
    return env
