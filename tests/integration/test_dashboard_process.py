"""The dashboard as separate processes: importing it loads no pyspark, and `python -m
spark_app.dashboard` serves without a database and ends cleanly on SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from localmysql import free_port
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_importing_the_dashboard_does_not_import_pyspark() -> None:
    code = (
        "import sys, spark_app.dashboard, spark_app.commands.dashboard.cli;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_serves_without_a_database_and_stops_on_sigterm() -> None:
    """Database down: the page is up, /healthz says 503, the banner has the error; exit 0."""
    port, dead = free_port(), free_port()
    env = {
        **os.environ,
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": str(dead),
        "MYSQL_DATABASE": "shop",
        "MYSQL_USER": "reader",
        "MYSQL_PASSWORD": "not-shown-anywhere",
        "INGEST_SINK": "mysql",
    }
    command = [
        sys.executable,
        "-m",
        "spark_app.dashboard",
        "--port",
        str(port),
        "--interval",
        "0.2",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        document: dict[str, Any] = {}
        while time.monotonic() < deadline and not document.get("status", {}).get(
            "error", ""
        ).startswith("database"):
            time.sleep(0.1)
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/api/snapshot")
                document = json.loads(connection.getresponse().read())
                connection.request("GET", "/healthz")
                health = connection.getresponse()
                health.read()
                connection.close()
            except OSError:
                continue
        assert document["status"]["error"].startswith("database unreachable at reader@")
        assert health.status == 503
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "not-shown-anywhere" not in output
