"""The dashboard as a user runs it: `python -m spark_app.dashboard` in its own process, and its
/metrics read back with the client library's OpenMetrics parser."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from localmysql import free_port

REPO = Path(__file__).resolve().parent.parent
# What Prometheus 3 sends: OpenMetrics first, the classic text format as a fallback.
SCRAPE_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until /healthz answers 200 (the first poll succeeded); fails if the process ends."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dashboard exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"dashboard not healthy after 30 s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_dashboard(env: dict[str, str], log: Path, *args: str) -> Iterator[str]:
    """The dashboard on a free loopback port with `env`'s account; yields its URL once healthy.
    SIGTERM at the end must end it with status 0."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "spark_app.dashboard", "--port", str(port), *args],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_healthy(url, process, log)
        yield url
        process.terminate()
        assert process.wait(timeout=15) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def scrape(url: str) -> dict[str, Metric]:
    """GET /metrics as Prometheus does; the families by name (counters without _total)."""
    request = urllib.request.Request(url + "metrics", headers={"Accept": SCRAPE_ACCEPT})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families: dict[str, Metric], name: str, **labels: str) -> float | None:
    """The value of sample `name` with these labels (besides `sink`), None when absent."""
    for family in families.values():
        for found in family.samples:
            others = {k: v for k, v in found.labels.items() if k != "sink"}
            if found.name == name and others == labels:
                return float(found.value)
    return None
