"""Start, stop, crash and provision a private PostgreSQL cluster on a free loopback port."""

from __future__ import annotations

import logging
import os
import pwd
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from localdb import free_port

log = logging.getLogger(__name__)

__all__ = [
    "Accounts",
    "LocalPostgres",
    "PgAccount",
    "PgConnectKwargs",
    "ServerError",
    "find_bindir",
    "free_port",
]

# Lower case only, so that the unquoted name a human types in psql is the same role or
# database; 48 characters leave room for the "_writer" suffix within PostgreSQL's 63.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")

# Where Debian and Ubuntu install the server binaries, one folder per major version.
PG_LIB = Path("/usr/lib/postgresql")

# The OS account initdb and pg_ctl run as when we are root (both refuse to run as root).
PG_OS_USER = "postgres"

# The cluster's superuser role; it logs in by the private Unix socket only.
SUPERUSER = "postgres"

# A zone far from UTC and with daylight saving, so that a zone shift anywhere shows.
DEFAULT_TIMEZONE = "America/New_York"

# Linux limits a socket path (sun_path) to 107 bytes.
_SOCKET_PATH_MAX = 107

# The superuser by socket only and without a password (the socket folder is private);
# every role must give its password over TCP, and the superuser may not use TCP at all.
PG_HBA = f"""\
# Written by localpg: see localpg/server.py.
# TYPE  DATABASE  USER       ADDRESS        METHOD
local   all       {SUPERUSER}                  trust
host    all       {SUPERUSER}   127.0.0.1/32   reject
host    all       all        127.0.0.1/32   scram-sha-256
"""


class ServerError(RuntimeError):
    """The cluster could not be initialised, started or stopped."""


def find_bindir() -> Path:
    """The bin folder of the newest PostgreSQL under /usr/lib/postgresql."""
    versions: list[tuple[tuple[int, ...], Path]] = []
    if PG_LIB.is_dir():
        for entry in PG_LIB.iterdir():
            # Versions sort as numbers: "9.6" < "10" < "15".
            if re.fullmatch(r"\d+(\.\d+)*", entry.name) and (entry / "bin" / "pg_ctl").is_file():
                versions.append((tuple(int(part) for part in entry.name.split(".")), entry))
    if not versions:
        raise ServerError(
            f"no PostgreSQL server under {PG_LIB}: install it "
            "(Debian/Ubuntu: apt-get install postgresql)"
        )
    return max(versions)[1] / "bin"


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} must be 1-48 lower-case letters, digits or _, got {value!r}")
    return value


class PgConnectKwargs(TypedDict):
    """Keyword arguments for psycopg.connect(); typed so that mypy checks the call."""

    host: str
    port: int
    dbname: str
    user: str
    password: str
    connect_timeout: int


@dataclass(frozen=True)
class PgAccount:
    """One login role on one database over TCP; its values go to the libpq PG* variables."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)

    def environ(self) -> dict[str, str]:
        """The libpq variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGDATABASE": self.database,
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
        }

    def dsn(self) -> str:
        """A libpq connection string without the password, safe to log."""
        return make_conninfo(host=self.host, port=self.port, dbname=self.database, user=self.user)

    def connect_kwargs(self, timeout: int = 10) -> PgConnectKwargs:
        """Everything psycopg.connect() needs, the password in its own argument."""
        return PgConnectKwargs(
            host=self.host,
            port=self.port,
            dbname=self.database,
            user=self.user,
            password=self.password,
            connect_timeout=timeout,
        )

    def connect(self, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
        """A new psycopg connection as this role."""
        return psycopg.connect(autocommit=autocommit, **self.connect_kwargs())


@dataclass(frozen=True)
class Accounts:
    """The three roles of one database: migrations, the stream, and read-only users."""

    owner: PgAccount
    writer: PgAccount
    reader: PgAccount


@dataclass(frozen=True)
class LocalPostgres:
    """A cluster whose data, socket and log live under `base`; it is never the shared one."""

    base: Path
    port: int
    timezone: str = DEFAULT_TIMEZONE
    bindir: Path | None = None

    def __post_init__(self) -> None:
        # pg_ctl runs from "/" (the postgres user may not read our working directory):
        # every path handed to it must be absolute.
        object.__setattr__(self, "base", self.base.resolve())

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    @property
    def log_path(self) -> Path:
        return self.base / "postgres.log"

    @property
    def _as_other_user(self) -> bool:
        return os.geteuid() == 0

    def _bin(self, name: str) -> str:
        return str((self.bindir or find_bindir()) / name)

    def _run(self, *command: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run a server tool, as the postgres OS user when we are root."""
        argv = list(command)
        if self._as_other_user:
            runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin")
            if runuser is None:
                raise ServerError("running as root needs runuser (util-linux) to drop to postgres")
            argv = [runuser, "-u", PG_OS_USER, "--", *argv]
        # PG* variables of the caller (PGPORT, PGDATA...) must not steer the tools elsewhere.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return subprocess.run(
            argv, capture_output=True, text=True, check=False, cwd="/", env=env, timeout=timeout
        )

    def _prepare_directories(self) -> None:
        """Create base, data and socket folders, owned by the user the server runs as."""
        self.base.mkdir(parents=True, exist_ok=True)
        socket_file = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_file)) > _SOCKET_PATH_MAX:
            raise ServerError(f"socket path too long for the kernel: {socket_file}")
        for folder in (self.datadir, self.socket_dir):
            folder.mkdir(exist_ok=True)
            # initdb refuses a data folder that others can read; the socket folder is what
            # keeps other local users away from the password-less superuser.
            folder.chmod(0o700)
        self.log_path.touch(mode=0o600, exist_ok=True)
        if not self._as_other_user:
            return
        try:
            account = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            raise ServerError(f"running as root needs an OS user {PG_OS_USER!r}") from None
        for path in (self.datadir, self.socket_dir, self.log_path):
            os.chown(path, account.pw_uid, account.pw_gid)
        self._make_traversable()
        probe = self._run("test", "-w", str(self.datadir), "-a", "-w", str(self.socket_dir))
        if probe.returncode != 0:
            raise ServerError(
                f"the {PG_OS_USER} OS user cannot reach {self.base}: every folder above it "
                f"needs o+x; place it under {tempfile.gettempdir()} to have that done for you"
            )

    def _make_traversable(self) -> None:
        """Let the postgres OS user pass through `base` and the temp folders above it."""
        # Only x for others (no listing), and only on folders we own inside the temp folder
        # (pytest's tmp_path parents are 0700): never on /root or a home folder.
        temp_root = Path(tempfile.gettempdir()).resolve()
        uid = os.geteuid()
        for folder in (self.base, *self.base.parents):
            if folder != self.base and not folder.is_relative_to(temp_root):
                break
            mode = folder.stat()
            if mode.st_uid == uid and not mode.st_mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(mode.st_mode) | stat.S_IXOTH)

    def initialise(self) -> None:
        """Create the cluster once (a no-op when the data folder holds one)."""
        if (self.datadir / "PG_VERSION").is_file():
            return
        self._prepare_directories()
        result = self._run(
            self._bin("initdb"),
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            # Durability of the empty cluster does not matter; that of the running one does.
            "--no-sync",
            "--no-instructions",
        )
        if result.returncode != 0:
            self._empty_datadir()
            raise ServerError(f"initdb of {self.datadir} failed:\n{result.stderr[-2000:]}")
        # Overwritten in place: the file keeps its owner (postgres when we are root).
        (self.datadir / "pg_hba.conf").write_text(PG_HBA)

    def _empty_datadir(self) -> None:
        # The folder itself stays: it carries the owner and mode set above.
        for child in self.datadir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def _server_options(self) -> str:
        options = [
            f"-p {self.port}",
            f"-k {shlex.quote(str(self.socket_dir))}",
            "-c listen_addresses=127.0.0.1",
            f"-c timezone={shlex.quote(self.timezone)}",
            "-c unix_socket_permissions=0700",
            # fsync, synchronous_commit and full_page_writes keep their defaults (on): the
            # crash tests rely on a commit surviving an immediate stop.
        ]
        # pg_ctl hands this string to /bin/sh, hence the quoting above.
        return " ".join(options)

    def start(self, timeout: int = 60) -> None:
        """Initialise if needed, then start the server and wait until it accepts connections."""
        self.initialise()
        self._prepare_directories()
        result = self._run(
            self._bin("pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(timeout),
            "-o",
            self._server_options(),
            "start",
            timeout=timeout + 30,
        )
        if result.returncode != 0:
            raise ServerError(
                f"pg_ctl start failed:\n{result.stdout[-1000:]}{result.stderr[-1000:]}\n"
                f"{self._log_tail()}"
            )
        log.info("PostgreSQL on 127.0.0.1:%d, data in %s", self.port, self.datadir)

    def _pg_ctl_stop(self, mode: str, timeout: int) -> None:
        # No pid file: nothing runs on this folder, and pg_ctl would only complain.
        if not (self.datadir / "postmaster.pid").exists():
            return
        result = self._run(
            self._bin("pg_ctl"),
            "-D",
            str(self.datadir),
            "-m",
            mode,
            "-w",
            "-t",
            str(timeout),
            "stop",
            timeout=timeout + 30,
        )
        if result.returncode != 0:
            raise ServerError(f"pg_ctl stop -m {mode} failed:\n{result.stderr[-2000:]}")

    def stop(self, timeout: int = 60) -> None:
        """Shut down cleanly (fast mode: open sessions are ended, a checkpoint is written)."""
        self._pg_ctl_stop("fast", timeout)

    def crash(self, timeout: int = 60) -> None:
        """Stop without a checkpoint, as a power cut would; the next start replays the WAL."""
        self._pg_ctl_stop("immediate", timeout)

    def restart(self, timeout: int = 60) -> None:
        """Stop cleanly and start again on the same data folder."""
        self.stop(timeout)
        self.start(timeout)

    def is_running(self) -> bool:
        """True when a server answers on this folder's socket."""
        try:
            self.superuser_connect(timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no server log)"

    def superuser_connect(
        self, database: str = "postgres", autocommit: bool = True, timeout: int = 10
    ) -> psycopg.Connection[TupleRow]:
        """A superuser connection over the private Unix socket (no password, no TCP)."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            dbname=database,
            user=SUPERUSER,
            connect_timeout=timeout,
            autocommit=autocommit,
        )

    def create_database(self, name: str) -> Accounts:
        """Create (or re-provision) a database and its roles; every call sets new passwords."""
        _identifier(name, "database")
        roles = {kind: f"{name}_{kind}" for kind in ("owner", "writer", "reader")}
        passwords = {kind: secrets.token_urlsafe(24) for kind in roles}
        with self.superuser_connect() as admin:
            for kind, role in roles.items():
                self._ensure_role(admin, role, passwords[kind])
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                # The superuser keeps the database: the owner role must not be able to drop
                # it or create schemas; it owns the schema the tables live in instead.
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                        sql.Identifier(name)
                    )
                )
            database = sql.Identifier(name)
            owner = sql.Identifier(roles["owner"])
            writer = sql.Identifier(roles["writer"])
            reader = sql.Identifier(roles["reader"])
            # Nobody else (PUBLIC) may connect or create temporary tables.
            admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
            admin.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}, {}").format(
                    database, owner, writer, reader
                )
            )
        with self.superuser_connect(name) as admin:
            for statement in (
                "ALTER SCHEMA public OWNER TO {owner}",
                # PostgreSQL 15 already revokes CREATE; USAGE goes too, then is given by name.
                "REVOKE ALL ON SCHEMA public FROM PUBLIC",
                "GRANT USAGE ON SCHEMA public TO {writer}, {reader}",
                # Default privileges cover the tables the owner's migrations create later;
                # the ALL TABLES grants cover those that exist on a re-provisioning.
                "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {writer}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                "GRANT USAGE ON SEQUENCES TO {writer}",
                "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                "GRANT SELECT ON TABLES TO {reader}",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {writer}",
                "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {writer}",
                "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}",
            ):
                admin.execute(sql.SQL(statement).format(owner=owner, writer=writer, reader=reader))
        accounts = {
            kind: PgAccount("127.0.0.1", self.port, name, role, passwords[kind])
            for kind, role in roles.items()
        }
        log.info("database %s with roles %s", name, ", ".join(roles.values()))
        return Accounts(accounts["owner"], accounts["writer"], accounts["reader"])

    @staticmethod
    def _ensure_role(admin: psycopg.Connection[TupleRow], role: str, password: str) -> None:
        """Create a plain login role, or give an existing one a new password."""
        # The server only ever sees a SCRAM verifier, never the password: statement text can
        # end up in the server log (log_statement, or an error's STATEMENT line).
        verifier = admin.pgconn.encrypt_password(
            password.encode(), role.encode(), b"scram-sha-256"
        ).decode()
        found = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if found else "CREATE"
        admin.execute(
            sql.SQL(
                verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS PASSWORD {}"
            ).format(sql.Identifier(role), sql.Literal(verifier))
        )

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
