"""The dashboard's HTTP server (standard library only): the page, its static files and the API.

Routes: `/` the page; `/static/<file>`; `/api/snapshot` the cached figures as JSON;
`/api/stream` the same as Server-Sent Events, one message per poll round and at least one every
HEARTBEAT_S seconds; `/healthz` 200 "ok" while the latest poll succeeded; `/metrics` the same
figures for Prometheus (metrics.py). Requests never touch the database: they read the poller's
cache.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, cast
from urllib.parse import urlsplit

from spark_app.commands.dashboard.poller import Published, SnapshotSource

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
MAX_STREAMS = 64
# Reading a request (and writing to a stalled stream) gives up after this long.
SOCKET_TIMEOUT_S = 30.0

SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _walk(folder: Traversable, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            files.update(_walk(entry, f"{name}/"))
        elif not entry.name.startswith(".") and any(name.endswith(s) for s in CONTENT_TYPES):
            files[name] = entry.read_bytes()
    return files


def load_static() -> dict[str, bytes]:
    """The page's files by path under static/, read once at start (nothing else is served)."""
    return _walk(resources.files(__package__).joinpath("static"))


def content_type(name: str) -> str:
    """The media type of a static file, by its suffix."""
    return next(kind for suffix, kind in CONTENT_TYPES.items() if name.endswith(suffix))


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a Host header: `[::1]:8050` -> `::1`, `Localhost:8050` -> `localhost`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


@dataclass(frozen=True)
class Reply:
    """A complete response."""

    status: HTTPStatus
    kind: str
    body: bytes
    cache: str = "no-store"


class DashboardServer(ThreadingHTTPServer):
    """Serves the page and the cached snapshot; one thread per connection."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        source: SnapshotSource,
        interval: float,
        static: dict[str, bytes] | None = None,
        metrics: Callable[[str | None], tuple[bytes, str]] | None = None,
    ) -> None:
        self.source = source
        self.interval = interval
        self.static = load_static() if static is None else static
        # Renders /metrics for an Accept header as (body, content type); None: no such route.
        self.metrics = metrics
        # Bound to loopback, only loopback names are answered: a page elsewhere cannot reach
        # the data by pointing its own domain name at 127.0.0.1 (DNS rebinding).
        self.allowed_hosts = LOOPBACK_NAMES if is_loopback(address[0]) else None
        self.stopping = threading.Event()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        super().__init__(address, DashboardHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}/"

    def is_fresh(self, published: Published) -> bool:
        """The latest poll succeeded and is recent (a hung poller makes the check fail)."""
        age = time.monotonic() - published.monotonic
        return published.ok and age <= max(10.0, 5 * self.interval)

    def stop(self) -> None:
        """End the streams and the serve_forever loop (call from another thread)."""
        self.stopping.set()
        self.shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("request from %s failed", client_address, exc_info=True)


class DashboardHandler(BaseHTTPRequestHandler):
    """GET and HEAD on the fixed routes; anything else is 404 or 405."""

    server_version = "ingest-dashboard"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S

    @property
    def app(self) -> DashboardServer:
        return cast(DashboardServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_POST(self) -> None:
        self._send(Reply(HTTPStatus.METHOD_NOT_ALLOWED, CONTENT_TYPES[".txt"], b"GET only\n"))

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _serve(self, head: bool) -> None:
        allowed = self.app.allowed_hosts
        if allowed is not None and host_name(self.headers.get("Host", "")) not in allowed:
            reply = Reply(HTTPStatus.FORBIDDEN, CONTENT_TYPES[".txt"], b"unexpected Host header\n")
            self._send(reply, head)
            return
        path = urlsplit(self.path).path
        if path == "/api/stream":
            self._stream(head)
            return
        self._send(self._route(path), head)

    def _route(self, path: str) -> Reply:
        static = self.app.static
        if path in ("/", "/index.html"):
            return Reply(HTTPStatus.OK, CONTENT_TYPES[".html"], static["index.html"])
        if path.startswith("/static/") and path[len("/static/") :] in static:
            name = path[len("/static/") :]
            return Reply(HTTPStatus.OK, content_type(name), static[name], "max-age=60")
        if path == "/api/snapshot":
            return Reply(HTTPStatus.OK, "application/json", self.app.source.latest().body)
        if path == "/metrics" and self.app.metrics is not None:
            body, kind = self.app.metrics(self.headers.get("Accept"))
            return Reply(HTTPStatus.OK, kind, body)
        if path == "/healthz":
            if self.app.is_fresh(self.app.source.latest()):
                return Reply(HTTPStatus.OK, CONTENT_TYPES[".txt"], b"ok\n")
            return Reply(HTTPStatus.SERVICE_UNAVAILABLE, CONTENT_TYPES[".txt"], b"stale\n")
        return Reply(HTTPStatus.NOT_FOUND, CONTENT_TYPES[".txt"], b"not found\n")

    def _headers(self, status: HTTPStatus, kind: str, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", cache)
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)

    def _send(self, reply: Reply, head: bool = False) -> None:
        self._headers(reply.status, reply.kind, reply.cache)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)

    def _stream(self, head: bool) -> None:
        """Server-Sent Events: the cached snapshot on every new version and every HEARTBEAT_S."""
        if not self.app.streams.acquire(blocking=False):
            self._send(Reply(HTTPStatus.SERVICE_UNAVAILABLE, CONTENT_TYPES[".txt"], b"busy\n"))
            return
        try:
            self._headers(HTTPStatus.OK, "text/event-stream", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            if head:
                return
            self.close_connection = True
            wait = min(HEARTBEAT_S, self.app.interval)
            self.wfile.write(b"retry: %d\n\n" % int(1000 * wait))
            published = self.app.source.latest()
            while not self.app.stopping.is_set():
                # JSON holds no raw newline, so the whole snapshot is one `data:` line.
                self.wfile.write(b"id: %d\ndata: %s\n\n" % (published.version, published.body))
                self.wfile.flush()
                published = self.app.source.wait_newer(published.version, HEARTBEAT_S)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            log.debug("stream to %s closed", self.address_string())
        finally:
            self.app.streams.release()
