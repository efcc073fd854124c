"""Local launcher behind scripts/run: database, generator and stream, one clean Ctrl-C."""

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

import mysql.connector

from localmysql import AppAccount, LocalServer, ServerError, free_port

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".local" / "mysql"
CREDENTIALS = STATE / "app.env"
DATABASE, USER = "ingest", "ingest_app"

log = logging.getLogger("run")


def _read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def local_database() -> tuple[LocalServer, bool, AppAccount]:
    """The project-local server under .local/mysql: started (or reused) and provisioned."""
    STATE.mkdir(parents=True, exist_ok=True)
    port_file = STATE / "port"
    if not port_file.exists():
        port_file.write_text(str(free_port()))
    server = LocalServer(STATE, int(port_file.read_text()))
    owned = not server.is_running()
    if owned:
        server.start()
    saved = _read_env_file(CREDENTIALS) if CREDENTIALS.exists() else {}
    account = server.create_account(DATABASE, USER, saved.get("MYSQL_PASSWORD"))
    CREDENTIALS.touch(mode=0o600)
    CREDENTIALS.write_text("".join(f"{k}={v}\n" for k, v in account.environ().items()))
    return server, owned, account


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


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def stop_stream(stream: subprocess.Popen[str], timeout: float = 90.0) -> None:
    """Ask the Python driver (a child of spark-submit's JVM) to stop between batches."""
    targets = _children(stream.pid) or [stream.pid]
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


def status_line(account: AppAccount) -> str:
    """Rows in the sink so far, for the terminal."""
    connection = mysql.connector.connect(
        host=account.host,
        port=account.port,
        user=account.user,
        password=account.password,
        database=account.database,
        connection_timeout=5,
    )
    try:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_written), 0),"
            " COALESCE(SUM(rows_duplicate), 0), COALESCE(SUM(rows_rejected), 0)"
            " FROM ingest_batches"
        )
        row = cursor.fetchone()
        assert row is not None
        batches, read, written, duplicate, rejected = (int(str(value)) for value in row)
    finally:
        connection.close()
    return (
        f"{batches} batches committed: {read} rows read, {written} written,"
        f" {duplicate} duplicates, {rejected} quarantined"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/run", description="Run MySQL, the generator and the stream locally."
    )
    parser.add_argument("--interval", default="20", help="seconds between generated files")
    parser.add_argument("--events-per-file", default="21")
    parser.add_argument("--null-user-rate", default="0.05")
    parser.add_argument("--no-generator", action="store_true", help="only run the stream")
    parser.add_argument("--status-every", type=float, default=20.0, help="seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[run] %(message)s", stream=sys.stdout)
    # The connector logs its authentication plugin at INFO; only its warnings matter here.
    logging.getLogger("mysql.connector").setLevel(logging.WARNING)
    args = parse_args(argv)
    env = dict(os.environ)
    server: LocalServer | None = None
    owned = False
    if env.get("MYSQL_USER"):
        account = AppAccount(
            env.get("MYSQL_HOST", "127.0.0.1"),
            int(env.get("MYSQL_PORT", "3306")),
            env.get("MYSQL_DATABASE", ""),
            env["MYSQL_USER"],
            env.get("MYSQL_PASSWORD", ""),
        )
        log.info(
            "using MySQL from the environment: %s@%s:%s", account.user, account.host, account.port
        )
    else:
        try:
            server, owned, account = local_database()
        except ServerError as exc:
            log.error("%s", exc)
            return 1
        env.update(account.environ())
        log.info(
            "project-local MySQL on 127.0.0.1:%d (%s; credentials in %s)",
            account.port,
            "started" if owned else "already running",
            CREDENTIALS.relative_to(REPO),
        )

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    stream = spawn("stream", ["spark-submit", "spark_app/main.py"], env)
    generator = None
    if not args.no_generator:
        generator = spawn(
            "generator",
            [sys.executable, "-m", "generator", "--interval", args.interval,
             "--events-per-file", args.events_per_file, "--null-user-rate", args.null_user_rate],
            env,
        )  # fmt: skip
    log.info("running; Ctrl-C stops everything")
    next_status = time.monotonic() + args.status_every
    code = 0
    while not stop.wait(0.5):
        if stream.poll() is not None:
            log.error("the stream exited with code %d", stream.returncode)
            code = stream.returncode or 1
            break
        if time.monotonic() >= next_status:
            next_status += args.status_every
            try:
                log.info("%s", status_line(account))
            except mysql.connector.Error as exc:
                log.warning("status unavailable: %s", exc.msg)
    log.info("stopping")
    if generator is not None and generator.poll() is None:
        generator.send_signal(signal.SIGTERM)
        generator.wait(30)
    if stream.poll() is None:
        stop_stream(stream)
    try:
        log.info("%s", status_line(account))
    except mysql.connector.Error:
        pass
    if server is not None and owned:
        server.stop()
        log.info("project-local MySQL stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
