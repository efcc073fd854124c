"""spark-submit entry point: parse settings, build the session, run the stream until stopped."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

if __package__ in (None, ""):
    # spark-submit runs this file as a script: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.java_gateway import ensure_callback_server_started
from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from spark_app.common.errors import is_transient, summarize
from spark_app.job.config import KNOWN_JDBC_DRIVERS, AppConfig, ConfigError, load_config
from spark_app.job.session import build_session
from spark_app.job.stream import start_query
from spark_app.sink import mysql as db
from spark_app.sink.writer import SinkContext
from spark_app.telemetry.recorder import RunRecorder
from spark_app.telemetry.retention import ArchivePruner
from spark_app.telemetry.settings import observability_from_env
from spark_app.telemetry.status import StatusListener

log = logging.getLogger("spark_app")

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_DRIVER = 4


class StartupError(Exception):
    """A precondition failed; carries the exit code and one clear message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def find_jdbc_driver(spark: SparkSession, preferred: str | None) -> str:
    """The first MySQL JDBC driver class the driver JVM can load."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    for name in (preferred,) if preferred else KNOWN_JDBC_DRIVERS:
        try:
            jvm.java.lang.Class.forName(name, False, loader)
            return name
        except Exception:
            continue
    raise StartupError(
        EXIT_DRIVER,
        "no MySQL JDBC driver on the Spark driver's classpath "
        f"(looked for {', '.join((preferred,) if preferred else KNOWN_JDBC_DRIVERS)}): "
        "run scripts/setup to put it in jars/ and spark-defaults.conf, "
        "or pass --jars JAR --driver-class-path JAR",
    )


def prepare_database(config: AppConfig) -> None:
    """Create the tables if absent; a database that cannot be reached ends the job here."""
    try:
        db.apply_schema(config.mysql)
    except Exception as exc:
        if not (is_transient(exc) or hasattr(exc, "errno")):
            raise
        raise StartupError(
            EXIT_DATABASE,
            f"cannot use MySQL at {config.mysql.address}: {summarize(exc)}",
        ) from None


def ship_package(spark: SparkSession) -> None:
    """Send spark_app to the executors of a cluster (local mode imports it directly)."""
    if (spark.sparkContext.master or "local").startswith("local"):
        return
    package = Path(__file__).resolve().parent
    archive = Path(tempfile.mkdtemp(prefix="spark_app_")) / "spark_app.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                bundle.write(path, Path("spark_app") / path.relative_to(package))
    spark.sparkContext.addPyFile(str(archive))


def start_archive_pruner(config: AppConfig) -> ArchivePruner | None:
    """Prune a local archive folder in the background; remote stores keep their own rules."""
    folder, hours = config.stream.archive_dir, config.stream.archive_retention_hours
    if not folder or hours <= 0:
        return None
    if "://" in folder and not folder.startswith("file:"):
        log.info("archive %s: retention left to the storage's lifecycle rules", folder)
        return None
    pruner = ArchivePruner(folder.removeprefix("file://").removeprefix("file:"), hours)
    pruner.start()
    return pruner


def run_until_stopped(query: StreamingQuery, stop: threading.Event) -> None:
    """Wait for the query; on a stop request, end it between micro-batches."""
    while query.isActive:
        if stop.wait(0.5):
            log.info("stop requested: finishing the current batch")
            deadline = time.monotonic() + 60
            while query.status.get("isTriggerActive", False) and time.monotonic() < deadline:
                time.sleep(0.1)
            query.stop()
            break
    query.awaitTermination()


STOP_SIGNALS = ("TERM", "INT")
# Ctrl-C reaches the JVM and the Python driver at once: one press, two deliveries.
SAME_REQUEST_SECONDS = 2.0


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


def main(argv: list[str] | None = None) -> int:
    """Run the stream; returns the process exit code."""
    # The job's own lines at INFO; libraries (py4j, mysql.connector) only when they warn.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log.setLevel(logging.INFO)
    # py4j would print the foreachBatch error's traceback again; main() reports it once.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    try:
        config = load_config(argv)
        observability = observability_from_env()
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return EXIT_CONFIG
    log.setLevel(config.log_level)
    stop = StopRequest()
    spark = build_session()
    spark.sparkContext.setLogLevel("WARN")
    # After the session: SparkContext installs a SIGINT handler of its own that cancels jobs.
    install_stop_handlers(stop)
    install_jvm_stop_handlers(spark, stop)
    recorder: RunRecorder | None = None
    context: SinkContext | None = None
    pruner: ArchivePruner | None = None
    failed, other_errors = False, 0
    try:
        driver = find_jdbc_driver(spark, config.jdbc.driver_class)
        prepare_database(config)
        ship_package(spark)
        context = SinkContext(
            mysql=config.mysql,
            jdbc=config.jdbc,
            retry=config.retry,
            driver_class=driver,
            run_id=datetime.now(UTC).strftime("%Y%m%d_%H%M%S"),
        )
        recorder = RunRecorder(
            observability, config.mysql, context.run_id, errors=lambda: len(context.fatal)
        )
        recorder.start()
        if observability.status_every:
            spark.streams.addListener(
                StatusListener(
                    config.mysql,
                    context.run_id,
                    config.stream.input_dir,
                    observability.status_every,
                )
            )
        query = start_query(spark, config.stream, context)
        pruner = start_archive_pruner(config)
        log.info(
            "streaming %s -> MySQL %s (checkpoint %s, query id %s)",
            config.stream.input_dir,
            config.mysql.address,
            config.stream.checkpoint_dir,
            query.id,
        )
        try:
            run_until_stopped(query, stop.event)
        except Exception as exc:
            failed = True
            if context.fatal:
                log.error("stream stopped: %s", context.fatal[-1])
            else:
                # Not a database outage: keep the whole error, it is a bug or bad set-up.
                other_errors = 1
                log.error("stream stopped: %s\n%s", summarize(exc), exc)
            return EXIT_FAILED
        if context.fatal:
            failed = True
            log.error("stream stopped: %s", context.fatal[-1])
            return EXIT_FAILED
        log.info("stream stopped cleanly")
        return 0
    except StartupError as exc:
        log.error("%s", exc)
        return exc.code
    finally:
        if context is not None:
            context.close()
        if pruner is not None:
            pruner.stop()
        if recorder is not None:
            recorder.stop(failed=failed, extra_errors=other_errors)
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
