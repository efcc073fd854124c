"""/metrics served over HTTP by the dashboard's server in this process, on a free loopback port
in a thread: the route honours Accept, and is absent without an endpoint."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spark_app.commands.dashboard.poller import SnapshotStore
from spark_app.commands.dashboard.server import DashboardServer
from tests.metrics_samples import EXPECTED_TYPES, PROMETHEUS_ACCEPT, endpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[DashboardServer]:
    metrics, store, _ = endpoint()
    served = DashboardServer(("127.0.0.1", 0), store, interval=0.2, metrics=metrics.render)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.stop()
    served.server_close()


def get(server: DashboardServer, path: str, accept: str | None = None) -> tuple[int, str, str]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=5)
    try:
        connection.request("GET", path, headers={"Accept": accept} if accept else {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        connection.close()


def test_metrics_route_honours_accept(server: DashboardServer) -> None:
    status, kind, body = get(server, "/metrics", PROMETHEUS_ACCEPT)
    assert status == 200 and kind.startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith("# EOF\n")
    status, kind, body = get(server, "/metrics")
    assert status == 200 and kind == "text/plain; version=0.0.4; charset=utf-8"
    names = {family.name for family in text_string_to_metric_families(body)}
    assert names == set(EXPECTED_TYPES)


def test_no_metrics_route_without_an_endpoint() -> None:
    served = DashboardServer(("127.0.0.1", 0), SnapshotStore(), interval=0.2)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        assert get(served, "/metrics")[0] == 404
    finally:
        served.stop()
        served.server_close()
