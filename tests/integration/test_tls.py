"""TLS to MySQL: MYSQL_SSL_MODE and MYSQL_SSL_CA, against a private server with a CA made here."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import mysql.connector
import pytest
from pyspark.sql import SparkSession

from localmysql import LocalServer, free_port
from spark_app.sink.drivers import connect
from tests.helpers import assert_sink_matches, generate, run_stream
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    folder.mkdir()
    ca_key, ca, key, request, cert = (
        folder / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test CA", "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(request))  # fmt: skip
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(extensions),
             "-out", str(cert))  # fmt: skip
    return ca, cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    base = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certificates(base / "certs")
    server = LocalServer(
        base / "mysql",
        free_port(),
        extra_args=("--local-infile=1", f"--ssl-ca={ca}", f"--ssl-cert={cert}",
                    f"--ssl-key={key}", "--require-secure-transport=ON"),
    )  # fmt: skip
    server.start()
    yield server, ca
    server.stop()


def _with_tls(sink: SinkUnderTest, ca: Path, mode: str) -> SinkUnderTest:
    for account in (sink.owner, sink.writer, sink.reader):
        account.update(MYSQL_SSL_MODE=mode, MYSQL_SSL_CA=str(ca))
    return sink


def test_the_stream_talks_tls_and_verifies_the_server(
    spark: SparkSession, tls_server: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    server, ca = tls_server
    # The owner migrates over TLS too: the server refuses anything else.
    accounts = server.create_accounts("tls")
    sink = SinkUnderTest(
        "mysql", server, accounts.owner.environ(), accounts.writer.environ(),
        accounts.reader.environ(),
    )  # fmt: skip
    _with_tls(sink, ca, "VERIFY_IDENTITY")
    sink.migrate()
    with connect(sink.settings("writer")) as connection:
        cursor = connection.cursor()
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cursor.fetchone()[1], "no cipher: the connection is not encrypted"
    files = generate(sink.env(), tmp_path / "drop", 2, 61)
    run_stream(spark, sink, tmp_path / "drop", tmp_path / "checkpoint")
    assert_sink_matches(sink, files)


def test_a_server_the_ca_did_not_sign_is_refused(
    tls_server: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    server, _ = tls_server
    other_ca, _, _ = make_certificates(tmp_path / "other")
    sink = _with_tls(mysql_sink_unmigrated(server, "tls_other"), other_ca, "VERIFY_CA")
    with pytest.raises(mysql.connector.Error), connect(sink.settings("writer")):
        pass


def test_plain_connections_are_refused_by_this_server(
    tls_server: tuple[LocalServer, Path],
) -> None:
    server, _ = tls_server
    sink = _with_tls(mysql_sink_unmigrated(server, "tls_plain"), Path("/nonexistent"), "DISABLED")
    with pytest.raises(mysql.connector.Error), connect(sink.settings("writer")):
        pass


def mysql_sink_unmigrated(server: LocalServer, name: str) -> SinkUnderTest:
    accounts = server.create_accounts(name)
    return SinkUnderTest(
        "mysql", server, accounts.owner.environ(), accounts.writer.environ(),
        accounts.reader.environ(),
    )  # fmt: skip
