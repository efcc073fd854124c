"""Start, stop and provision a private mysqld/mariadbd on a free loopback port."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import mysql.connector

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")

# Rights of the application account, on its own schema only.
APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, ALTER"


class ServerError(RuntimeError):
    """The server could not be installed, initialised or started."""


def _which(*names: str) -> str | None:
    extra = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"])
    search = os.environ.get("PATH", "") + os.pathsep + extra
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} must be 1-64 letters, digits or _, got {value!r}")
    return value


@dataclass(frozen=True)
class AppAccount:
    """A least-privilege account on one schema; its values go to MYSQL_* variables."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)

    def environ(self) -> dict[str, str]:
        """The MYSQL_* variables the app reads."""
        return {
            "MYSQL_HOST": self.host,
            "MYSQL_PORT": str(self.port),
            "MYSQL_DATABASE": self.database,
            "MYSQL_USER": self.user,
            "MYSQL_PASSWORD": self.password,
        }


@dataclass(frozen=True)
class Accounts:
    """The three accounts of one schema."""

    owner: AppAccount
    writer: AppAccount
    reader: AppAccount


@dataclass
class LocalServer:
    """A server whose data, socket and log live under `base`; root connects by socket only."""

    base: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    extra_args: tuple[str, ...] = ("--local-infile=1",)

    def __post_init__(self) -> None:
        # mysqld changes into its data directory: every path handed to it must be absolute.
        self.base = self.base.resolve()

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_path(self) -> Path:
        return self.base / "mysqld.sock"

    @property
    def log_path(self) -> Path:
        return self.base / "mysqld.log"

    @property
    def pid_path(self) -> Path:
        return self.base / "mysqld.pid"

    def initialise(self) -> None:
        """Create the data directory once (a no-op when it exists)."""
        if (self.datadir / "mysql").is_dir():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        mariadb_install = _which("mariadb-install-db", "mysql_install_db")
        mysqld = _which("mariadbd", "mysqld")
        if mysqld is None:
            raise ServerError(
                "no MySQL-compatible server found: install it "
                "(Debian/Ubuntu: apt-get install mariadb-server)"
            )
        if mariadb_install and "mariadb" in Path(mysqld).name:
            command = [
                mariadb_install,
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ]
        else:
            command = [
                mysqld,
                "--no-defaults",
                "--initialize-insecure",
                f"--datadir={self.datadir}",
            ]
        if os.geteuid() == 0:
            command.append("--user=root")
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            raise ServerError(f"initialising {self.datadir} failed:\n{result.stderr[-2000:]}")

    def start(self, timeout: float = 60.0) -> None:
        """Start the server in its own session (Ctrl-C in a terminal does not reach it)."""
        self.initialise()
        mysqld = _which("mariadbd", "mysqld")
        assert mysqld is not None
        command = [
            mysqld,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket_path}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={self.pid_path}",
            f"--log-error={self.log_path}",
            "--skip-name-resolve",
            "--max-allowed-packet=256M",
            "--innodb-buffer-pool-size=512M",
            "--innodb-log-file-size=256M",
            "--character-set-server=utf8mb4",
            *self.extra_args,
        ]
        if os.geteuid() == 0:
            command.append("--user=root")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"server exited at start:\n{self._log_tail()}")
            try:
                self.root_connection().close()
                return
            except mysql.connector.Error:
                time.sleep(0.2)
        self.stop()
        raise ServerError(f"server not ready after {timeout:.0f} s:\n{self._log_tail()}")

    def is_running(self) -> bool:
        """True when a server already answers on this folder's socket."""
        try:
            self.root_connection().close()
            return True
        except mysql.connector.Error:
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """Shut the server down cleanly (SIGTERM), or kill it after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no server log)"

    def root_connection(self) -> mysql.connector.abstracts.MySQLConnectionAbstract:
        """A root connection over the private socket."""
        return mysql.connector.connect(  # type: ignore[return-value]
            unix_socket=str(self.socket_path), user="root", password="", connection_timeout=5
        )

    def create_account(self, database: str, user: str, password: str | None = None) -> AppAccount:
        """Create (idempotently) a schema and an account with rights on it only."""
        _identifier(database, "database")
        _identifier(user, "user")
        password = password if password is not None else secrets.token_urlsafe(18)
        connection = self.root_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
            cursor.execute(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY %s", (password,))
            cursor.execute(f"ALTER USER '{user}'@'%' IDENTIFIED BY %s", (password,))
            cursor.execute(f"GRANT {APP_PRIVILEGES} ON `{database}`.* TO '{user}'@'%'")
            connection.commit()
        finally:
            connection.close()
        return AppAccount("127.0.0.1", self.port, database, user, password)

    def create_accounts(self, database: str) -> Accounts:
        """A schema with three accounts: its owner (migrations, grants), the stream's writer
        and a read-only account for the commands. The writer and reader get their table rights
        from `ingest-migrate --grant-writer/--grant-reader`, run by the owner."""
        _identifier(database, "database")
        owner = self.create_account(database, f"{database}_owner")
        writer = self._create_login(database, f"{database}_writer")
        reader = self._create_login(database, f"{database}_reader")
        connection = self.root_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{owner.user}'@'%'"
                           " WITH GRANT OPTION")  # fmt: skip
            connection.commit()
        finally:
            connection.close()
        return Accounts(owner, writer, reader)

    def _create_login(self, database: str, user: str) -> AppAccount:
        """An account with no rights yet."""
        _identifier(user, "user")
        password = secrets.token_urlsafe(18)
        connection = self.root_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY %s", (password,))
            cursor.execute(f"ALTER USER '{user}'@'%' IDENTIFIED BY %s", (password,))
            connection.commit()
        finally:
            connection.close()
        return AppAccount("127.0.0.1", self.port, database, user, password)

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
