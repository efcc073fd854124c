"""The dashboard's HTTP server in this process, on a free loopback port in a thread, over a
stub snapshot: the page, static files, API, event stream and /healthz; and the snapshot store
waking a waiting reader from another thread."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from spark_app.commands.dashboard.poller import SnapshotStore
from spark_app.commands.dashboard.server import DashboardServer, host_name
from spark_app.commands.dashboard.snapshot import build_snapshot
from tests.dashboard_samples import NOW, fetched

pytestmark = pytest.mark.integration


def test_store_wait_newer() -> None:
    store = SnapshotStore()
    start = store.latest()
    assert store.wait_newer(start.version, 0.05) == start  # times out
    timer = threading.Timer(0.05, store.publish, args=({"totals": None}, {"ok": True}))
    timer.start()
    newer = store.wait_newer(start.version, 5)
    timer.join()
    assert newer.version == start.version + 1 and newer.ok


# --- the HTTP server -------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[DashboardServer, SnapshotStore]]:
    """The server on a free loopback port, with a stub snapshot in its cache."""
    store = SnapshotStore()
    store.publish(build_snapshot(fetched(), NOW), {"ok": True, "interval_s": 0.2})
    server = DashboardServer(("127.0.0.1", 0), store, interval=0.2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, store
    server.stop()
    server.server_close()
    thread.join(5)


def get(
    server: DashboardServer, path: str, method: str = "GET", host: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)  # type: ignore[misc]
    headers = {} if host is None else {"Host": host}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_page_and_static_files(served: tuple[DashboardServer, SnapshotStore]) -> None:
    server, _ = served
    status, headers, body = get(server, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'id="rows-written"' in body and b'id="rows-rejected"' in body
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-content-type-options"] == "nosniff"
    status, headers, body = get(server, "/static/dashboard.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert b"EventSource" in body
    assert get(server, "/static/dashboard.css")[1]["content-type"].startswith("text/css")
    status, headers, body = get(server, "/static/dashboard.js", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_only_known_paths(served: tuple[DashboardServer, SnapshotStore]) -> None:
    server, _ = served
    for path in ("/nope", "/static/", "/static/../cli.py", "/static/%2e%2e/cli.py", "/cli.py"):
        status, headers, _ = get(server, path)
        assert status == 404, path
        assert headers["x-content-type-options"] == "nosniff"
    assert get(server, "/api/snapshot", method="POST")[0] == 405


def test_foreign_host_names_are_refused_on_loopback(
    served: tuple[DashboardServer, SnapshotStore],
) -> None:
    server, _ = served
    assert get(server, "/api/snapshot", host="attacker.example:8050")[0] == 403
    assert get(server, "/api/snapshot", host="localhost:8050")[0] == 200
    assert host_name("[::1]:8050") == "::1" and host_name("LocalHost") == "localhost"


def test_snapshot_api(served: tuple[DashboardServer, SnapshotStore]) -> None:
    server, _ = served
    status, headers, body = get(server, "/api/snapshot?x=1")
    assert status == 200 and headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    document = json.loads(body)
    assert document["totals"]["rows_written"] == 57
    assert document["status"]["ok"] is True


def read_message(response: http.client.HTTPResponse) -> tuple[int, dict[str, Any]]:
    """The next message of an event stream: its `id:` (the snapshot's version) and its `data:`
    parsed."""
    event_id = None
    while True:
        line = response.readline()
        assert line, "stream ended"
        if line.startswith(b"id: "):
            event_id = int(line[len(b"id: ") :])
        elif line.startswith(b"data: "):
            assert event_id is not None, "data without an id"
            return event_id, dict(json.loads(line[len(b"data: ") :]))


def read_event(response: http.client.HTTPResponse) -> dict[str, Any]:
    """The next `data:` message of an event stream, parsed."""
    return read_message(response)[1]


def test_stream_pushes_new_snapshots(served: tuple[DashboardServer, SnapshotStore]) -> None:
    server, store = served
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)  # type: ignore[misc]
    connection.request("GET", "/api/stream")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.getheader("Content-Security-Policy", "").startswith("default-src 'self'")
    assert read_event(response)["totals"]["rows_written"] == 57
    updated = fetched(totals=(4, 4, 84, 78, 2, 4, 1))
    store.publish(build_snapshot(updated, NOW), {"ok": True})
    version, document = read_message(response)
    assert document["totals"]["rows_written"] == 78 and version == store.latest().version
    # No new version: the next message is the heartbeat, repeating the same one.
    assert read_message(response) == (version, document)
    connection.close()


def test_healthz_follows_the_last_poll(served: tuple[DashboardServer, SnapshotStore]) -> None:
    server, store = served
    assert get(server, "/healthz")[:3:2] == (200, b"ok\n")
    store.publish(None, {"ok": False, "error": "database unreachable"})
    assert get(server, "/healthz")[0] == 503
    document = json.loads(get(server, "/api/snapshot")[2])
    assert document["totals"]["rows_written"] == 57 and document["status"]["ok"] is False
