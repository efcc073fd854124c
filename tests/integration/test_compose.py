"""docker-compose.yml: validated by docker-compose, its wiring checked without a Docker engine."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pyspark
import pytest
import yaml
from packaging.requirements import Requirement

from localmysql.server import APP_PRIVILEGES
from tests.conftest import REPO

pytestmark = pytest.mark.integration

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "docker" / "Dockerfile"
SPARK_CONF = REPO / "docker" / "spark-conf"
INIT_SCRIPT = REPO / "docker" / "mysql-init" / "10-app-user.sh"
SPARK_NODES = ("spark-master", "spark-worker", "stream")
MASTER_URL = "spark://spark-master:7077"


def docker_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    """`docker-compose --env-file ENV_FILE ARGS` on the repository's compose file."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    # Only the env file feeds the interpolation: no MYSQL_* or SPARK_* from this shell.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "SPARK_", "COMPOSE_"))
    }
    return subprocess.run(
        [binary, "--project-directory", str(REPO), "--file", str(COMPOSE_FILE),
         "--env-file", str(env_file), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    """The configuration compose would run, with .env.example's values filled in."""
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """docker-compose.yml as written (anchors merged, ${VAR} not interpolated)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())  # type: ignore[no-any-return]


def env_example() -> dict[str, str]:
    """The KEY=value lines of .env.example."""
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines())
    return {p[0].strip(): p[1].strip() for p in pairs if len(p) == 2 and not p[0].startswith("#")}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's volumes as {container path: source}, from short or long syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = volume["source"]
        else:
            source, target, *_ = volume.split(":")
            found[target] = source
    return found


def volume_of(service: dict[str, Any], path: str) -> tuple[str, str]:
    """The (source, mount point) holding `path` in a service: its deepest mount above it."""
    above = [t for t in mounts(service) if PurePosixPath(path).is_relative_to(t)]
    assert above, f"{path} is on no volume"
    target = max(above, key=len)
    return mounts(service)[target], target


def flag(command: list[str], name: str) -> str:
    """The value after `name` in a command line."""
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def test_compose_file_validates() -> None:
    result = docker_compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_credentials_only_from_env_file(raw: dict[str, Any], tmp_path: Path) -> None:
    # Without an env file, compose refuses to start rather than use a default password.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = docker_compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "is not set (cp .env.example .env)" in result.stderr, result.stderr
    # Every password-like setting is a required ${VAR}, never a literal or a default.
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", str(value)), (name, key, value)
    text = COMPOSE_FILE.read_text()
    for key, value in env_example().items():
        if "PASSWORD" in key:
            assert value not in text, f"{key}'s example value is written in docker-compose.yml"


def test_every_image_pinned(rendered: dict[str, Any]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for name, service in rendered["services"].items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" in service:
            # Built here: tagged with the project's version, from docker/Dockerfile.
            assert tag == project["version"], (name, image)
            assert Path(service["build"]["context"]) == REPO, name
            assert service["build"]["dockerfile"] == "docker/Dockerfile", name
        else:
            assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: {image!r} is not an exact version"
    for base in re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE):
        repository, _, tag = base.rpartition(":")
        assert re.match(r"\d+\.\d+\.\d+-", tag), f"docker/Dockerfile: base {base!r} is not pinned"


def test_spark_version_matches_pyspark() -> None:
    text = DOCKERFILE.read_text()
    versions = re.findall(r"^ARG SPARK_VERSION=(\S+)$", text, re.MULTILINE)
    assert len(versions) == 1, "docker/Dockerfile must set ARG SPARK_VERSION once"
    (version,) = versions
    assert version == pyspark.__version__, "the image's Spark differs from the installed pyspark"
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [Requirement(d) for d in dependencies if Requirement(d).name == "pyspark"]
    assert pin.specifier.contains(version), f"Spark {version} is outside pyproject's {pin}"
    # The image installs exactly that version, together with the project.
    assert 'pip install "pyspark==${SPARK_VERSION}" /app' in text


def test_stream_gets_the_settings_the_app_reads(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    stream_env = services["stream"]["environment"]
    read_by_app = set(re.findall(r'"(MYSQL_[A-Z]+)"', Path(app_config.__file__).read_text()))
    assert read_by_app == {
        "MYSQL_HOST", "MYSQL_PORT", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"
    }  # fmt: skip
    assert {key for key in stream_env if key.startswith("MYSQL_")} == read_by_app
    settings = app_config.mysql_from_env({k: str(v) for k, v in stream_env.items()})
    assert (settings.host, settings.port) == ("mysql", 3306)
    assert "mysql" in services and "3306" in str(services["mysql"]["ports"])
    # MySQL creates the very account and schema the job logs in with.
    example, mysql_env = env_example(), services["mysql"]["environment"]
    assert settings.database == mysql_env["MYSQL_DATABASE"] == example["MYSQL_DATABASE"]
    assert settings.user == mysql_env["APP_DB_USER"] == example["MYSQL_USER"]
    assert settings.password == mysql_env["APP_DB_PASSWORD"] == example["MYSQL_PASSWORD"]
    # Given MYSQL_USER/MYSQL_PASSWORD, the image would GRANT ALL: the account is made by the
    # init script instead, with the rights of localmysql's accounts and no more.
    assert not {"MYSQL_USER", "MYSQL_PASSWORD"} & set(mysql_env)
    grants = re.findall(r"GRANT\s+(.+?)\s+ON\s", INIT_SCRIPT.read_text())
    assert grants == [APP_PRIVILEGES]


def test_mysql_initialised_from_the_app_schema(rendered: dict[str, Any]) -> None:
    service = rendered["services"]["mysql"]
    init = {
        target: Path(source)
        for target, source in mounts(service).items()
        if target.startswith("/docker-entrypoint-initdb.d/")
    }
    # Run in name order: the account first, then the tables from the file the app applies.
    assert [source for _, source in sorted(init.items())] == [
        INIT_SCRIPT,
        REPO / "spark_app" / "sql" / "schema.sql",
    ]
    assert sorted(init)[1].endswith(".sql")
    # The entrypoint sources a non-executable .sh (which gives it docker_process_sql); an
    # executable one would run on its own and fail.
    assert not INIT_SCRIPT.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert "mysqladmin" in service["healthcheck"]["test"]
    assert mounts(service)["/var/lib/mysql"] in rendered["volumes"]


def test_input_and_checkpoint_on_storage_every_node_shares(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    generator_command = services["generator"]["command"]
    stream_command = services["stream"]["command"]
    output_dir = flag(generator_command, "--output-dir")
    input_dir = flag(stream_command, "--input-dir")
    checkpoint = flag(stream_command, "--checkpoint-dir")
    assert output_dir == input_dir
    shared = volume_of(services["stream"], input_dir)
    assert volume_of(services["generator"], output_dir) == shared
    assert volume_of(services["stream"], checkpoint) == shared
    # A named volume (not a bind mount of one machine's folder) at the same path on every node.
    volume, mount_point = shared
    assert volume in rendered["volumes"]
    for node in SPARK_NODES:
        assert mounts(services[node]).get(mount_point) == volume, node


def test_job_submitted_to_the_cluster(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    master, worker, stream = services["spark-master"], services["spark-worker"], services["stream"]
    assert master["command"][:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    url = f"spark://{flag(master['command'], '--host')}:{flag(master['command'], '--port')}"
    assert url == MASTER_URL
    assert worker["command"] == ["spark-class", "org.apache.spark.deploy.worker.Worker", url]
    assert stream["command"][:4] == ["spark-submit", "--master", url, "spark_app/main.py"]
    assert stream["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert "spark-master" in stream["depends_on"]
    assert stream["restart"] == "on-failure"
    # --scale spark-worker=N needs no fixed container name or host port on the worker.
    assert "container_name" not in worker and "ports" not in worker
    published = {name: str(services[name].get("ports")) for name in ("spark-master", "stream")}
    assert ":8080:8080" in published["spark-master"] and ":4040:4040" in published["stream"]


def test_prometheus_metrics_switched_on() -> None:
    defaults = dict(
        line.split(None, 1)
        for line in (SPARK_CONF / "spark-defaults.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert defaults["spark.ui.prometheus.enabled"].strip() == "true"
    conf_dir = re.search(r"SPARK_CONF_DIR=(\S+)", DOCKERFILE.read_text())
    assert conf_dir is not None
    assert defaults["spark.metrics.conf"].strip() == f"{conf_dir.group(1)}/metrics.properties"
    metrics = (SPARK_CONF / "metrics.properties").read_text()
    assert "*.sink.prometheusServlet.class=org.apache.spark.metrics.sink.PrometheusServlet" in (
        metrics
    )
