"""Local launcher behind scripts/run: database, generator, stream and dashboard, one Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from localmysql import LocalServer, ServerError, free_port
from localpg import LocalPostgres
from spark_app.common.database import SettingsError, settings_from_env
from spark_app.common.errors import summarize
from spark_app.sink import dialect_for
from spark_app.sink.drivers import connect, database_errors

REPO = Path(__file__).resolve().parent.parent
DATABASE = "ingest"
Accounts = dict[str, dict[str, str]]  # owner / writer / reader -> their MYSQL_* or PG* variables

log = logging.getLogger("run")


def _write_env_file(path: Path, values: dict[str, str]) -> None:
    """A credentials file readable by its owner only (created 0600 before anything is in it)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def _port(state: Path) -> int:
    port_file = state / "port"
    if not port_file.exists():
        port_file.write_text(str(free_port()))
    return int(port_file.read_text())


def local_database(
    kind: str,
) -> tuple[LocalServer | LocalPostgres, bool, dict[str, dict[str, str]]]:
    """The project-local server under .local/<kind>: started (or reused), the schema migrated
    by its owner, and the stream's and the commands' accounts granted what they need."""
    state = REPO / ".local" / kind
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    server: LocalServer | LocalPostgres
    if kind == "mysql":
        server = LocalServer(state, _port(state))
    else:
        server = LocalPostgres(state, _port(state))
    owned = not server.is_running()
    if owned:
        server.start()
    if isinstance(server, LocalServer):
        mysql_accounts = server.create_accounts(DATABASE)
        accounts = {
            "owner": mysql_accounts.owner.environ(),
            "writer": mysql_accounts.writer.environ(),
            "reader": mysql_accounts.reader.environ(),
        }
    else:
        pg_accounts = server.create_database(DATABASE)
        accounts = {
            "owner": pg_accounts.owner.environ(),
            "writer": pg_accounts.writer.environ(),
            "reader": pg_accounts.reader.environ(),
        }
    owner = settings_from_env(kind, accounts["owner"])
    dialect = dialect_for(owner)
    dialect.ensure_schema()
    user_key = "MYSQL_USER" if kind == "mysql" else "PGUSER"
    dialect.grant(accounts["writer"][user_key], accounts["reader"][user_key])
    for name, values in accounts.items():
        _write_env_file(state / f"{name}.env", values)
    return server, owned, accounts


def _pump(name: str, stream: object) -> None:
    """Copy a child's output to ours, each line tagged with the child's name."""
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()


def spawn(name: str, command: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a child in its own session: Ctrl-C reaches only us, and we stop it in order."""
    child = subprocess.Popen(
        list(command),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    threading.Thread(target=_pump, args=(name, child.stdout), daemon=True).start()
    return child


def stop_stream(stream: subprocess.Popen[str], timeout: float = 90.0) -> None:
    """Ask the Python driver (a child of spark-submit's JVM) to stop between batches."""
    try:
        targets = [child.pid for child in psutil.Process(stream.pid).children()] or [stream.pid]
    except psutil.NoSuchProcess:
        return
    for pid in targets:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        stream.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("stream did not stop in %.0f s: killing it", timeout)
        stream.kill()
        stream.wait()


def status_line(kind: str, env: dict[str, str]) -> str:
    """Rows in the sink so far, for the terminal."""
    with connect(settings_from_env(kind, env), timeout=5) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_written), 0),"
            " COALESCE(SUM(rows_duplicate), 0), COALESCE(SUM(rows_rejected), 0)"
            " FROM ingest_batches"
        )
        batches, read, written, duplicate, rejected = (int(v) for v in cursor.fetchone())
        cursor.execute("SELECT COUNT(*), COALESCE(SUM(CASE WHEN is_placeholder THEN 1 ELSE 0 END),"
                       " 0) FROM users")  # fmt: skip
        users, placeholders = (int(v) for v in cursor.fetchone())
        cursor.execute("SELECT COUNT(*) FROM products")
        products = int(cursor.fetchone()[0])
        connection.rollback()
    return (
        f"{batches} batches committed: {read} rows read, {written} written,"
        f" {duplicate} duplicates, {rejected} quarantined; {users} users"
        f" ({placeholders} placeholders), {products} products"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/run",
        description="Run the database, the generator, the stream and the dashboard locally.",
    )
    parser.add_argument("--sink", choices=("mysql", "postgresql"), default="mysql")
    parser.add_argument("--interval", default="20", help="seconds between generated files")
    parser.add_argument("--events-per-file", default="21")
    parser.add_argument("--null-user-rate", default="0.05")
    parser.add_argument("--no-generator", action="store_true", help="only run the stream")
    parser.add_argument("--no-dashboard", action="store_true", help="do not serve the page")
    parser.add_argument("--dashboard-port", default="8050")
    parser.add_argument("--status-every", type=float, default=20.0, help="seconds")
    return parser.parse_args(argv)


def _accounts(
    kind: str,
) -> tuple[LocalServer | LocalPostgres | None, bool, dict[str, dict[str, str]]]:
    """The database the environment names (one account for all), else a project-local one."""
    names = ("MYSQL_USER",) if kind == "mysql" else ("PGUSER", "PGDATABASE")
    if all(os.environ.get(name) for name in names):
        prefix = "MYSQL_" if kind == "mysql" else "PG"
        env = {k: v for k, v in os.environ.items() if k.startswith(prefix)}
        settings = settings_from_env(kind, env)
        log.info("using %s from the environment: %s", settings.label, settings.address)
        return None, False, {"owner": env, "writer": env, "reader": env}
    server, owned, accounts = local_database(kind)
    log.info(
        "project-local %s on 127.0.0.1:%d (%s; credentials in .local/%s/*.env)",
        kind, server.port, "started" if owned else "already running", kind,
    )  # fmt: skip
    return server, owned, accounts


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[run] %(message)s", stream=sys.stdout)
    # The connector logs its authentication plugin at INFO; only its warnings matter here.
    logging.getLogger("mysql.connector").setLevel(logging.WARNING)
    args = parse_args(argv)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "PG"))}
    base["INGEST_SINK"] = args.sink
    try:
        server, owned, accounts = _accounts(args.sink)
    except database_errors(ServerError, SettingsError) as exc:
        log.error("%s", summarize(exc))
        return 1

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    children: dict[str, subprocess.Popen[str]] = {}
    children["stream"] = spawn(
        "stream",
        ["spark-submit", "spark_app/main.py", "--sink", args.sink],
        {**base, **accounts["writer"]},
    )
    if not args.no_generator:
        children["generator"] = spawn(
            "generator",
            [sys.executable, "-m", "generator", "--entities", "--interval", args.interval,
             "--events-per-file", args.events_per_file, "--null-user-rate", args.null_user_rate],
            base,
        )  # fmt: skip
    if not args.no_dashboard:
        children["dashboard"] = spawn(
            "dashboard",
            [sys.executable, "-m", "spark_app.dashboard", "--port", args.dashboard_port],
            {**base, **accounts["reader"]},
        )
        log.info("dashboard: http://127.0.0.1:%s/", args.dashboard_port)
    log.info("running; Ctrl-C stops everything")
    code = _supervise(args, accounts["reader"], children, stop)
    log.info("stopping")
    for name in ("generator", "dashboard"):
        child = children.get(name)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            child.wait(30)
    if children["stream"].poll() is None:
        stop_stream(children["stream"])
    try:
        log.info("%s", status_line(args.sink, accounts["reader"]))
    except database_errors():
        pass
    if server is not None and owned:
        server.stop()
        log.info("project-local %s stopped", args.sink)
    return code


def _supervise(
    args: argparse.Namespace,
    reader: dict[str, str],
    children: dict[str, subprocess.Popen[str]],
    stop: threading.Event,
) -> int:
    """Print a status line now and then until Ctrl-C or until the stream exits."""
    next_status = time.monotonic() + args.status_every
    while not stop.wait(0.5):
        stream = children["stream"]
        if stream.poll() is not None:
            log.error("the stream exited with code %d", stream.returncode)
            return stream.returncode or 1
        if time.monotonic() >= next_status:
            next_status += args.status_every
            try:
                log.info("%s", status_line(args.sink, reader))
            except database_errors() as exc:
                log.warning("status unavailable: %s", summarize(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
