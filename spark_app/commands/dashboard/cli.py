"""`python -m spark_app.dashboard`: a live web page of the pipeline's figures.

One poller thread reads the database every --interval seconds (the same settings as the
stream: MYSQL_*, or PG* with INGEST_SINK=postgresql); the HTTP server hands its cached snapshot
to every tab, and to Prometheus at /metrics. SIGTERM and SIGINT stop both; the exit status is
then 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from spark_app.commands.dashboard.metrics import MetricsEndpoint, SnapshotCollector
from spark_app.commands.dashboard.poller import Poller, SnapshotStore
from spark_app.commands.dashboard.queries import Fetcher
from spark_app.commands.dashboard.server import DashboardServer, is_loopback
from spark_app.commands.health import Limits
from spark_app.common.database import SettingsError, sink_from_env
from spark_app.common.numbers import number_arg

log = logging.getLogger(__name__)

OK = 0
FAILED = 1
USAGE = 2
MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 300.0


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    limits = Limits()
    parser = argparse.ArgumentParser(
        prog="ingest-dashboard",
        description="Serve a live page of the pipeline's figures (read from the sink database).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=number_arg(int, minimum=0, maximum=65535),
        default=8050,
        help="TCP port (default 8050; 0 picks a free one)",
    )
    parser.add_argument(
        "--interval",
        type=number_arg(float, minimum=MIN_INTERVAL_S, maximum=MAX_INTERVAL_S),
        default=1.0,
        help="seconds between two reads of the database (default 1)",
    )
    parser.add_argument(
        "--input-dir",
        type=Path,
        default=None,
        help="the drop folder: count waiting files, and call an idle stream healthy",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        help="the stream's checkpoint: show a batch pending there (planned, not committed)",
    )
    parser.add_argument(
        "--max-age",
        type=number_arg(float, above=0),
        default=limits.max_age,
        help="seconds since the last commit before the verdict turns unhealthy",
    )
    parser.add_argument(
        "--allow-stopped",
        action="store_true",
        help="a stream that is not running is fine (the job runs with --available-now)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; 0 then, 1 when it cannot start, 2 on bad arguments."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # The driver logs its authentication plugins at INFO on every connect.
    logging.getLogger("mysql.connector").setLevel(logging.WARNING)
    try:
        settings = sink_from_env(os.environ)
    except SettingsError as exc:
        log.error("dashboard: %s", exc)
        return USAGE
    store = SnapshotStore()
    metrics = MetricsEndpoint(SnapshotCollector(store, settings.kind))
    try:
        server = DashboardServer(
            (args.host, args.port), store, args.interval, metrics=metrics.render
        )
    except OSError as exc:
        log.error("dashboard: cannot listen on %s:%s: %s", args.host, args.port, exc.strerror)
        return FAILED
    limits = Limits(max_age=args.max_age, allow_stopped=args.allow_stopped)
    fetcher = Fetcher(args.input_dir, checkpoint_dir=args.checkpoint_dir)
    poller = Poller(settings, store, args.interval, fetcher, limits)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    serving = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
    try:
        poller.start()
        serving.start()
        if not is_loopback(args.host):
            log.warning("dashboard: listening on %s, reachable from other machines", args.host)
        log.info(
            "dashboard: %s, reading %s %s every %g s",
            server.url,
            settings.label,
            settings.address,
            args.interval,
        )
        while not stop.wait(0.5):  # a timed wait lets the signal handler run promptly
            pass
        log.info("dashboard: stopping")
    finally:
        if serving.is_alive():
            server.stop()
        server.server_close()
        poller.stop()
        poller.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return OK
