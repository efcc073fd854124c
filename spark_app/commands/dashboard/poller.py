"""One background thread polls the database and caches the snapshot; every page reads the cache.

However many tabs are open, the database sees one round of queries per interval. The snapshot
is serialised once per round; the server hands the same bytes to every request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from spark_app.commands.dashboard.queries import Fetcher
from spark_app.commands.dashboard.snapshot import build_snapshot, iso
from spark_app.commands.health import Limits
from spark_app.common.database import DatabaseSettings
from spark_app.common.errors import summarize
from spark_app.sink.drivers import database_errors, open_connection

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Published:
    """One version of the cached snapshot: its JSON bytes and whether its poll succeeded."""

    version: int
    body: bytes
    ok: bool
    monotonic: float
    # The same snapshot as a dict (read only), for /metrics; and when its figures were read
    # from the database (None: never yet).
    payload: Mapping[str, Any] = field(default_factory=dict)
    figures_monotonic: float | None = None


class SnapshotSource(Protocol):
    """What the HTTP server needs: the latest snapshot, and a way to wait for the next one."""

    def latest(self) -> Published: ...

    def wait_newer(self, version: int, timeout: float) -> Published: ...


class SnapshotStore:
    """The cache between the poller (one writer) and the request threads (many readers)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._changed = threading.Condition()
        self._snapshot: dict[str, Any] | None = None
        self._figures_at: float | None = None
        self._published = self._encode(0, {"status": {"ok": False, "error": "starting"}}, False)

    def _encode(self, version: int, payload: dict[str, Any], ok: bool) -> Published:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        return Published(version, body, ok, self._monotonic(), payload, self._figures_at)

    def publish(self, snapshot: dict[str, Any] | None, status: dict[str, Any]) -> Published:
        """Cache a new snapshot (None: keep the last good figures) with the poll's status."""
        with self._changed:
            if snapshot is not None:
                self._snapshot = snapshot
                self._figures_at = self._monotonic()
            payload = {**(self._snapshot or {}), "status": status}
            version = self._published.version + 1
            self._published = self._encode(version, payload, bool(status.get("ok")))
            self._changed.notify_all()
            return self._published

    def latest(self) -> Published:
        with self._changed:
            return self._published

    def wait_newer(self, version: int, timeout: float) -> Published:
        """The first snapshot after `version`, or the current one after `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self._published.version > version, timeout)
            return self._published


def _utcnow() -> datetime:
    """Naive UTC, the clock of committed_at."""
    return datetime.now(UTC).replace(tzinfo=None)


class Poller(threading.Thread):
    """Every `interval` seconds: read the figures on one kept connection, publish them."""

    def __init__(
        self,
        settings: DatabaseSettings,
        store: SnapshotStore,
        interval: float,
        fetcher: Fetcher | None = None,
        limits: Limits | None = None,
        connector: Callable[[DatabaseSettings], Any] | None = None,
    ) -> None:
        super().__init__(name="dashboard-poller", daemon=True)
        self.settings = settings
        self.store = store
        self.interval = interval
        self.fetcher = fetcher or Fetcher()
        self.limits = limits or Limits()
        self._connector = connector or (
            lambda settings: open_connection(settings, timeout=CONNECT_TIMEOUT_S)
        )
        self._connection: Any = None
        self._stopping = threading.Event()
        self._last_success: str | None = None
        self._errors: tuple[type[BaseException], ...] = (*database_errors(), OSError)

    def stop(self) -> None:
        """Ask the thread to end after its current round."""
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception as exc:  # a bug must not end the thread: the page shows it
                log.exception("poll round failed")
                self._disconnect()
                status = self._status(False, time.perf_counter(), _utcnow(), summarize(exc))
                self.store.publish(None, status)
            self._stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))
        self._disconnect()

    def poll_once(self) -> Published:
        """One round: connect when needed, read, shape and publish; an error is published too."""
        started = time.perf_counter()
        now = _utcnow()
        try:
            if self._connection is None:
                self._connection = self._connector(self.settings)
            fetched = self.fetcher.fetch(self._connection, now)
        except self._errors as exc:
            self._disconnect()
            message = f"database unreachable at {self.settings.address}: {summarize(exc)}"
            log.warning("%s", message)
            return self.store.publish(None, self._status(False, started, now, message))
        snapshot = build_snapshot(fetched, now, self.limits)
        self._last_success = iso(now)
        return self.store.publish(snapshot, self._status(True, started, now, None))

    def _status(self, ok: bool, started: float, now: datetime, error: str | None) -> dict[str, Any]:
        return {
            "ok": ok,
            "error": error,
            "polled_at": iso(now),
            "last_success_at": self._last_success,
            "poll_ms": round(1000 * (time.perf_counter() - started), 1),
            "interval_s": self.interval,
            "database": f"{self.settings.label} {self.settings.address}",
        }

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()
        except Exception:  # a broken connection may fail to close; it is dropped either way
            log.debug("closing the database connection failed", exc_info=True)
