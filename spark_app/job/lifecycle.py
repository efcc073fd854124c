"""Clean stops: SIGTERM/SIGINT to the Python driver or to spark-submit's JVM end the query
between micro-batches; a second signal, later, exits at once (which is safe too)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import ClassVar

from pyspark.java_gateway import ensure_callback_server_started
from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from spark_app.common.exits import EXIT_FAILED

log = logging.getLogger(__name__)

STOP_SIGNALS = ("TERM", "INT")
# Ctrl-C reaches the JVM and the Python driver at once: one press, two deliveries.
SAME_REQUEST_SECONDS = 2.0
# How long a stop waits for the batch in flight before stopping the query anyway.
BATCH_GRACE_SECONDS = 60.0


class StopRequest:
    """A stop asked for by a signal; asking again later means: exit now."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._first: float | None = None

    def __call__(self, *_: object) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first = now
            self.event.set()
        elif now - self._first > SAME_REQUEST_SECONDS:
            log.warning("second stop signal: exiting without waiting for the batch")
            os._exit(EXIT_FAILED)


def install_stop_handlers(stop: StopRequest) -> None:
    """SIGTERM and SIGINT to the Python driver ask for a clean stop between batches."""
    for name in STOP_SIGNALS:
        signal.signal(getattr(signal, f"SIG{name}"), stop)


class _JvmStopHandler:
    """A JVM signal handler (via py4j) that asks for a clean stop instead of exiting."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop

    def handle(self, jvm_signal: object) -> None:
        self.stop()

    class Java:
        implements: ClassVar[list[str]] = ["sun.misc.SignalHandler"]


def install_jvm_stop_handlers(spark: SparkSession, stop: StopRequest) -> None:
    """Route SIGTERM/SIGINT sent to spark-submit's JVM to the same clean stop.

    Under spark-submit the JVM is the process that a service manager or `kill` signals; its
    default handler would exit at once with 143 and drop the batch in flight.
    """
    context = spark.sparkContext
    gateway, jvm = context._gateway, context._jvm
    if gateway is None or jvm is None:
        return
    ensure_callback_server_started(gateway)  # type: ignore[no-untyped-call]
    handler = _JvmStopHandler(stop)
    for name in STOP_SIGNALS:
        try:
            jvm.sun.misc.Signal.handle(jvm.sun.misc.Signal(name), handler)
        except Exception as exc:
            log.debug("cannot handle SIG%s in the JVM: %s", name, exc)


def run_until_stopped(query: StreamingQuery, stop: threading.Event) -> None:
    """Wait for the query; on a stop request, end it between micro-batches."""
    while query.isActive:
        if stop.wait(0.5):
            log.info("stop requested: finishing the current batch")
            deadline = time.monotonic() + BATCH_GRACE_SECONDS
            while query.status.get("isTriggerActive", False) and time.monotonic() < deadline:
                time.sleep(0.1)
            query.stop()
            break
    query.awaitTermination()
