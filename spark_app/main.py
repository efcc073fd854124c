"""spark-submit entry point: parse settings, build the session, run the stream until stopped."""

from __future__ import annotations

import logging
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    # spark-submit runs this file as a script: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from spark_app.common.errors import summarize
from spark_app.common.exits import EXIT_DATABASE, EXIT_FAILED, EXIT_USAGE
from spark_app.common.paths import local_path
from spark_app.job.batches import recover_staged
from spark_app.job.config import AppConfig, ConfigError, load_config
from spark_app.job.lifecycle import (
    StopRequest,
    install_jvm_stop_handlers,
    install_stop_handlers,
    run_until_stopped,
)
from spark_app.job.session import build_session
from spark_app.job.stream import read_ahead, start_query, warm_up
from spark_app.sink import dialect_for
from spark_app.sink.committer import Committer, SinkUnavailableError
from spark_app.sink.dialect import Dialect
from spark_app.sink.schema import SchemaError
from spark_app.sink.staging import StagedFileError, local_folder
from spark_app.telemetry.recorder import RunRecorder
from spark_app.telemetry.retention import ArchivePruner
from spark_app.telemetry.settings import ObservabilitySettings, observability_from_env
from spark_app.telemetry.status import StatusListener

log = logging.getLogger("spark_app")


class StartupError(Exception):
    """A precondition failed; carries the exit code and one clear message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def configure_logging() -> None:
    """The job's own lines at INFO; libraries (py4j, connectors) only when they warn."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log.setLevel(logging.INFO)
    # py4j would print the foreachBatch error's traceback again; main() reports it once.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)


def prepare_database(dialect: Dialect) -> str:
    """Create or migrate the tables where the account may; pick the bulk path. Returns it."""
    where = f"{dialect.settings.label} at {dialect.settings.address}"
    try:
        dialect.ensure_schema()
        return dialect.detect_write_path()
    except SchemaError as exc:
        raise StartupError(EXIT_DATABASE, f"{where}: {exc}") from None
    except Exception as exc:
        if dialect.error_code(exc) is None and not dialect.is_transient(exc):
            raise
        raise StartupError(EXIT_DATABASE, f"cannot use {where}: {summarize(exc)}") from None


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
    local = local_path(folder)
    if local is None:
        log.info("archive %s: retention left to the storage's lifecycle rules", folder)
        return None
    pruner = ArchivePruner(str(local), hours)
    pruner.start()
    return pruner


def ensure_local_folder(folder: str) -> None:
    """Create a local drop folder that does not exist yet (the file source requires it)."""
    local = local_path(folder)
    if local is not None:
        local.mkdir(parents=True, exist_ok=True)


def recover(committer: Committer, config: AppConfig) -> None:
    """Commit what an earlier release staged next to the checkpoint, whatever the flags."""
    try:
        count = recover_staged(committer, local_folder(config.stream.checkpoint_dir))
    except StagedFileError as exc:
        raise StartupError(EXIT_FAILED, str(exc)) from None
    if count:
        log.info("%d staged batch(es) committed before the stream starts", count)


def await_query(query: StreamingQuery, stop: StopRequest) -> int:
    """Wait for the query to end; returns the exit code and logs why it ended."""
    try:
        run_until_stopped(query, stop.event)
    except Exception as exc:
        cause = _sink_failure(exc)
        if cause is not None:
            log.error("stream stopped: %s", cause)
            return EXIT_FAILED
        if stop.event.is_set():
            # A signal to the whole process group (Ctrl-C) also reaches the JVM's helper
            # processes, which can fail the last checkpoint write: the stop was asked for,
            # and the batch, committed or not, is replayed safely on restart.
            log.warning("while stopping, the query ended with: %s", summarize(exc))
        else:
            # Not the database: keep the whole error, it is a bug or a bad set-up.
            log.error("stream stopped: %s\n%s", summarize(exc), exc)
            return EXIT_FAILED
    log.info("stream stopped cleanly")
    return 0


def _sink_failure(exc: BaseException) -> str | None:
    """The one line of a SinkUnavailableError raised in foreachBatch, if that ended the query."""
    marker = SinkUnavailableError.__name__ + ": "
    for line in str(exc).splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip()
    return None


def run_stream(
    spark: SparkSession,
    config: AppConfig,
    observability: ObservabilitySettings,
    stop: StopRequest,
) -> int:
    """Prepare the database and the run's helpers, stream until stopped; returns the exit code."""
    dialect = dialect_for(config.database)
    log.info("write path: %s", prepare_database(dialect))
    ship_package(spark)
    run_id = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    committer = Committer(dialect, config.retry, run_id)
    recorder = RunRecorder(observability, config.database, run_id)
    recorder.start()
    pruner = start_archive_pruner(config)
    code = EXIT_FAILED
    try:
        code = stream(spark, config, observability, committer, stop)
        return code
    finally:
        committer.close()
        if pruner is not None:
            pruner.stop()
        recorder.stop(failed=code != 0, extra_errors=int(code != 0))


def report_progress(
    spark: SparkSession, config: AppConfig, observability: ObservabilitySettings, run_id: str
) -> None:
    """Log a status line every `status_every` batches (none when it is 0)."""
    if observability.status_every:
        spark.streams.addListener(
            StatusListener(
                config.database, run_id, config.stream.input_dir, observability.status_every
            )
        )


def stream(
    spark: SparkSession,
    config: AppConfig,
    observability: ObservabilitySettings,
    committer: Committer,
    stop: StopRequest,
) -> int:
    """Recover, warm up, start the query and wait for it to end; returns the exit code."""
    ensure_local_folder(config.stream.input_dir)
    ahead = read_ahead(config.stream)
    try:
        recover(committer, config)
        committer.warm()
        warm_up(spark, config.stream)
        report_progress(spark, config, observability, committer.run_id)
        query = start_query(spark, config.stream, committer, ahead)
        log.info(
            "streaming %s -> %s %s (checkpoint %s, query id %s)",
            config.stream.input_dir,
            config.database.label,
            config.database.address,
            config.stream.checkpoint_dir,
            query.id,
        )
        return await_query(query, stop)
    except SinkUnavailableError as exc:
        log.error("stream stopped: %s", exc)
        return EXIT_FAILED
    finally:
        ahead.close()


def main(argv: list[str] | None = None) -> int:
    """Run the stream; returns the process exit code."""
    configure_logging()
    try:
        config = load_config(argv)
        observability = observability_from_env()
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return EXIT_USAGE
    log.setLevel(config.log_level)
    stop = StopRequest()
    spark = build_session(local_checkpoints=local_path(config.stream.checkpoint_dir) is not None)
    spark.sparkContext.setLogLevel("WARN")
    # After the session: SparkContext installs a SIGINT handler of its own that cancels jobs.
    install_stop_handlers(stop)
    install_jvm_stop_handlers(spark, stop)
    try:
        return run_stream(spark, config, observability, stop)
    except StartupError as exc:
        log.error("%s", exc)
        return exc.code
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
