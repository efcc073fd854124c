"""docker-compose.yml: validated by docker-compose, its wiring checked without a Docker engine.

Rendered twice, as .env.example chooses it (MySQL) and with the PostgreSQL profile; what the
services pass to the app is read back with the app's own settings functions. The `monitoring`
profile's Prometheus and Grafana are checked against the files they mount (no server runs).
"""

from __future__ import annotations

import importlib
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

from spark_app.commands import health
from spark_app.commands.dashboard import cli as dashboard_cli
from spark_app.commands.dashboard.server import is_loopback
from spark_app.common import database
from spark_app.common.database import sink_from_env
from tests.conftest import REPO

pytestmark = pytest.mark.integration

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "docker" / "Dockerfile"
SPARK_CONF = REPO / "docker" / "spark-conf"
INIT_SCRIPTS = {
    "mysql": REPO / "docker" / "mysql-init" / "10-accounts.sh",
    "postgresql": REPO / "docker" / "postgresql-init" / "10-accounts.sh",
}
SPARK_NODES = ("spark-master", "spark-worker", "stream")
MASTER_URL = "spark://spark-master:7077"
# The service of each account: the owner migrates, the writer streams, the reader looks.
ROLES = {"migrate": "owner", "stream": "writer", "dashboard": "reader"}
PORTS = {"mysql": 3306, "postgresql": 5432}
SCRIPTS: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def docker_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    """`docker-compose --env-file ENV_FILE ARGS` on the repository's compose file."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    # Only the env file feeds the interpolation: nothing of this shell's database settings.
    prefixes = ("MYSQL_", "PG", "SPARK_", "COMPOSE_", "INGEST_", "DB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return subprocess.run(
        [binary, "--project-directory", str(REPO), "--file", str(COMPOSE_FILE),
         "--env-file", str(env_file), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def env_example() -> dict[str, str]:
    """The KEY=value lines of .env.example."""
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines())
    return {p[0].strip(): p[1].strip() for p in pairs if len(p) == 2 and not p[0].startswith("#")}


@pytest.fixture(scope="module")
def env_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """.env.example as it is (MySQL), and switched to PostgreSQL in both of its places."""
    folder = tmp_path_factory.mktemp("compose")
    text = ENV_EXAMPLE.read_text()
    switched = re.sub(r"(?m)^(COMPOSE_PROFILES|INGEST_SINK)=mysql$", r"\1=postgresql", text)
    assert switched.count("=postgresql") == 2, "both settings name the database in .env.example"
    (folder / "postgresql.env").write_text(switched)
    return {"mysql": ENV_EXAMPLE, "postgresql": folder / "postgresql.env"}


@pytest.fixture(scope="module")
def renderings(env_files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """The configuration compose would run, per database, with the env file's values."""
    found = {}
    for kind, path in env_files.items():
        result = docker_compose("config", env_file=path)
        assert result.returncode == 0, result.stderr
        found[kind] = yaml.safe_load(result.stdout)
    return found


@pytest.fixture(scope="module")
def rendered(renderings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The configuration as .env.example chooses it."""
    return renderings["mysql"]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """docker-compose.yml as written (anchors merged, ${VAR} not interpolated)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())  # type: ignore[no-any-return]


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


def secrets_of(service: dict[str, Any]) -> list[str]:
    """The names of the secrets a service mounts (short or long syntax)."""
    return [s["source"] if isinstance(s, dict) else s for s in service.get("secrets", [])]


def published(service: dict[str, Any]) -> list[str]:
    """A service's published ports as text (`127.0.0.1:8050:8050/tcp`)."""
    return [str(port) for port in service.get("ports", [])]


def is_script(name: str) -> bool:
    """Whether `name` is a console script of pyproject.toml whose function exists."""
    if name not in SCRIPTS:
        return False
    module, _, function = SCRIPTS[name].partition(":")
    return callable(getattr(importlib.import_module(module), function, None))


def test_compose_file_validates(env_files: dict[str, Path]) -> None:
    for kind, path in env_files.items():
        result = docker_compose("config", "-q", env_file=path)
        assert result.returncode == 0, (kind, result.stderr)


def test_passwords_only_from_secret_files(
    raw: dict[str, Any], rendered: dict[str, Any], tmp_path: Path
) -> None:
    # Every password-like setting names a file of a secret that service mounts; none is a value.
    for name, service in rendered["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert key.endswith("_FILE"), (name, key)
                secret = PurePosixPath(str(value))
                assert secret.parent == PurePosixPath("/run/secrets"), (name, key, value)
                assert secret.name in secrets_of(service), (name, key)
    for name, secret in rendered["secrets"].items():
        assert Path(secret["file"]).parent == REPO / "secrets", name
    # The secrets folder stays out of git and out of the image (COPY . /app).
    assert "secrets/" in (REPO / ".gitignore").read_text().split()
    assert "secrets" in (REPO / ".dockerignore").read_text().split()
    assert not any("PASSWORD" in key for key in env_example())
    assert not any("PASSWORD" in key for key in raw.get("x-mysql-target", {}))
    # So .env holds no credential at all: compose renders without one.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    assert docker_compose("config", "-q", env_file=empty).returncode == 0


def test_each_account_only_where_it_is_needed(rendered: dict[str, Any]) -> None:
    example, services = env_example(), rendered["services"]
    for name, role in ROLES.items():
        service = services[name]
        user = example[f"DB_{role.upper()}"]
        assert secrets_of(service) == [f"db_{role}"], name
        environment = service["environment"]
        assert environment["MYSQL_USER"] == environment["PGUSER"] == user, name
        secret = f"/run/secrets/db_{role}"
        assert environment["MYSQL_PASSWORD_FILE"] == environment["PGPASSWORD_FILE"] == secret
    for name in ("spark-master", "spark-worker", "generator"):
        environment = services[name].get("environment") or {}
        assert not secrets_of(services[name]), name
        assert not [key for key in environment if key.startswith(("MYSQL_", "PG"))], name
    # Each database gets the three accounts' passwords and its own root's, for its init.
    for kind in PORTS:
        assert sorted(secrets_of(services[kind])) == sorted(
            ["db_root", "db_owner", "db_writer", "db_reader"]
        )


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
            # A release, not a moving major tag (PostgreSQL's releases have two numbers;
            # Prometheus writes a v before its own).
            exact = r"v?\d+\.\d+(\.\d+)?(-[a-z][a-z0-9]*)?"
            assert re.fullmatch(exact, tag), f"{name}: {image!r} is not an exact version"
            assert tag.count(".") == (1 if repository == "postgres" else 2), (name, image)
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
    # No JDBC driver any more: the rows are written from the driver's Python.
    assert "jars" not in (SPARK_CONF / "spark-defaults.conf").read_text()
    assert "spark.jars" not in text and "extraClassPath" not in text


def variables_read_by_the_app() -> set[str]:
    """The MYSQL_* and PG* names spark_app.common.database reads (passwords also as *_FILE)."""
    text = Path(database.__file__).read_text()
    names = set(re.findall(r'"((?:MYSQL|PG)[A-Z_]*)"', text))
    return names | {f"{name}_FILE" for name in names if name.endswith("PASSWORD")}


@pytest.mark.parametrize("kind", list(PORTS))
def test_services_get_the_settings_the_app_reads(
    kind: str, renderings: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    services, example = renderings[kind]["services"], env_example()
    read_by_app = variables_read_by_the_app()
    assert {"MYSQL_HOST", "MYSQL_PASSWORD_FILE", "PGHOST", "PGPASSWORD_FILE"} <= read_by_app
    database_service = services[kind]
    assert database_service["profiles"] == [kind]
    created = database_service["environment"]
    assert created.get("MYSQL_DATABASE", created.get("POSTGRES_DB")) == example["DB_NAME"]
    for service_name, role in ROLES.items():
        environment = {k: str(v) for k, v in services[service_name]["environment"].items()}
        unknown = {k for k in environment if k.startswith(("MYSQL_", "PG"))} - read_by_app
        assert not unknown, f"{service_name}: the app reads no {sorted(unknown)}"
        # The secret's content, where the container would find it.
        secret = tmp_path / f"db_{role}"
        secret.write_text(f"secret-of-{role}\n")
        for key, value in environment.items():
            if key.endswith("PASSWORD_FILE"):
                assert value == f"/run/secrets/db_{role}"
                environment[key] = str(secret)
        settings = sink_from_env(environment)
        assert settings.kind == kind, service_name
        assert (settings.host, settings.port) == (kind, PORTS[kind]), service_name
        assert settings.database == example["DB_NAME"], service_name
        assert settings.user == example[f"DB_{role.upper()}"], service_name
        assert settings.password == f"secret-of-{role}", service_name
        assert f":{PORTS[kind]}" in " ".join(published(database_service))
    assert flag(services["stream"]["command"], "--sink") == kind


def test_databases_make_the_three_accounts(renderings: dict[str, dict[str, Any]]) -> None:
    example = env_example()
    for kind, script in INIT_SCRIPTS.items():
        service = renderings[kind]["services"][kind]
        init = {
            target: Path(source)
            for target, source in mounts(service).items()
            if target.startswith("/docker-entrypoint-initdb.d/")
        }
        # The accounts only: the tables come from `ingest-migrate`, run by the owner.
        assert list(init.values()) == [script], kind
        assert script.is_file()
        for role in ("owner", "writer", "reader"):
            assert service["environment"][f"DB_{role.upper()}"] == example[f"DB_{role.upper()}"]
        data = [t for t, s in mounts(service).items() if s in renderings[kind]["volumes"]]
        assert data, f"{kind} keeps its data on no named volume"
    mysql = renderings["mysql"]["services"]["mysql"]
    # The MySQL entrypoint sources a non-executable .sh (which gives it docker_process_sql); an
    # executable one would run on its own and fail.
    assert not INIT_SCRIPTS["mysql"].stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # Only the owner gets rights there, as in the tests' servers; the others get theirs from
    # the migration's GRANTs.
    grant = r"GRANT\s+(.+?)\s+ON\s+\S+\s+TO\s+'\$\{(\w+)\}'@'%'(.*);"
    grants = re.findall(grant, INIT_SCRIPTS["mysql"].read_text())
    assert grants == [("ALL PRIVILEGES", "DB_OWNER", " WITH GRANT OPTION")]
    # LOAD DATA LOCAL INFILE, the stream's one-pass path, is off by default in MySQL 8.
    assert "--local-infile=1" in mysql["command"]
    assert "mysqladmin" in mysql["healthcheck"]["test"]
    postgresql = renderings["postgresql"]["services"]["postgresql"]
    assert "pg_isready" in postgresql["healthcheck"]["test"]
    assert 'ALTER SCHEMA public OWNER TO :"owner"' in INIT_SCRIPTS["postgresql"].read_text()


def test_migrate_runs_once_with_the_owner_before_the_stream_and_the_dashboard(
    rendered: dict[str, Any],
) -> None:
    services = rendered["services"]
    migrate = services["migrate"]
    command = migrate["command"]
    assert command[0] == "ingest-migrate" and is_script(command[0])
    assert SCRIPTS["ingest-migrate"] == "spark_app.commands.migrate:main"
    assert flag(command, "--grant-writer") == services["stream"]["environment"]["MYSQL_USER"]
    assert flag(command, "--grant-reader") == services["dashboard"]["environment"]["MYSQL_USER"]
    # Exits 3 while the database is not up yet (it is one of two profiles, so no depends_on):
    # restarted until it succeeds; only then do the others start.
    assert migrate["restart"] == "on-failure"
    for name in ("stream", "dashboard"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        ), name


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
    assert flag(stream["command"], "--sink") == stream["environment"]["INGEST_SINK"]
    assert stream["depends_on"]["spark-master"]["condition"] == "service_healthy"
    assert stream["restart"] == "on-failure"
    # --scale spark-worker=N needs no fixed container name or host port on the worker.
    assert "container_name" not in worker and "ports" not in worker
    ports = {name: " ".join(published(services[name])) for name in ("spark-master", "stream")}
    assert ":8080:8080" in ports["spark-master"] and ":4040:4040" in ports["stream"]


def test_stream_health_checked_by_ingest_health(rendered: dict[str, Any]) -> None:
    stream = rendered["services"]["stream"]
    check = stream["healthcheck"]["test"]
    assert check[:2] == ["CMD", "ingest-health"] and is_script("ingest-health")
    # The flags are the command's own, and the drop folder is the stream's.
    args = health.build_parser().parse_args(check[2:])
    assert str(args.input_dir) == flag(stream["command"], "--input-dir")
    assert not args.allow_stopped  # the stream runs for good: a stopped one is unhealthy


def test_dashboard_on_port_8050_health_checked_on_healthz(rendered: dict[str, Any]) -> None:
    dashboard = rendered["services"]["dashboard"]
    command = dashboard["command"]
    assert command[0] == "ingest-dashboard" and is_script(command[0])
    args = dashboard_cli.build_parser().parse_args(command[1:])
    assert (args.host, args.port) == ("0.0.0.0", 8050)
    # Published on the host's loopback only: the page has no login.
    assert published(dashboard) == ["127.0.0.1:8050:8050/tcp"]
    check = " ".join(dashboard["healthcheck"]["test"])
    assert "http://localhost:8050/healthz" in check
    assert '"/healthz"' in (REPO / "spark_app/commands/dashboard/server.py").read_text()


def test_dashboard_counts_the_files_waiting_in_the_shared_drop_folder(
    rendered: dict[str, Any],
) -> None:
    # Without --input-dir the dashboard calls a quiet stream stale after --max-age, while the
    # stream's own health check (with it) calls it idle and healthy: the two disagree.
    services = rendered["services"]
    dashboard, stream = services["dashboard"], services["stream"]
    args = dashboard_cli.build_parser().parse_args(dashboard["command"][1:])
    input_dir = flag(stream["command"], "--input-dir")
    assert args.input_dir is not None and str(args.input_dir) == input_dir
    assert volume_of(dashboard, input_dir) == volume_of(stream, input_dir)


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


def test_every_bind_mount_source_exists(rendered: dict[str, Any]) -> None:
    for name, service in rendered["services"].items():
        for target, source in mounts(service).items():
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: {source} (for {target}) is missing"


def bind_mounts(service: dict[str, Any]) -> dict[str, tuple[Path, bool]]:
    """A service's bind mounts as {container path: (host path, read-only)}."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                found[volume["target"]] = (Path(volume["source"]), bool(volume.get("read_only")))
            continue
        source, target, *mode = volume.split(":")
        if source.startswith("/"):
            found[target] = (Path(source), mode == ["ro"])
    return found


def scrape_jobs(config: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """Prometheus's scrape jobs as {job: (metrics path, ["host:port", ...])}."""
    jobs = {}
    for job in config["scrape_configs"]:
        targets = [t for static in job.get("static_configs", []) for t in static["targets"]]
        targets += [
            f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]
        ]
        jobs[job["job_name"]] = (job.get("metrics_path", "/metrics"), targets)
    return jobs


def test_monitoring_profile_scrapes_the_dashboard_and_spark(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    monitoring = sorted(n for n, s in services.items() if "monitoring" in s.get("profiles", []))
    assert monitoring == ["grafana", "prometheus"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    for name in monitoring:
        mounted = bind_mounts(services[name])
        assert mounted, name
        for target, (source, read_only) in mounted.items():
            assert read_only, f"{name}: {source} is mounted writable at {target}"
            assert source.is_relative_to(REPO / "deploy") and source.exists(), (name, source)
        # Loopback only, like every other UI of the file: neither has a login in front.
        assert all(port.startswith("127.0.0.1:") for port in published(services[name])), name

    # Prometheus reads its configuration and, next to it, the rules file, both from deploy/.
    mounted = bind_mounts(prometheus)
    (config_file,) = [
        arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file=")
    ]
    config_path = PurePosixPath(config_file)
    assert mounted[str(config_path)][0] == REPO / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(mounted[str(config_path)][0].read_text())
    for rules in config["rule_files"]:
        assert mounted[str(config_path.parent / rules)][0] == REPO / "deploy/prometheus/alerts.yml"

    # The dashboard's /metrics, at the address the dashboard service listens on; bound to a
    # non-loopback address, it answers any Host header (the scrape's is dashboard:8050).
    jobs = scrape_jobs(config)
    args = dashboard_cli.build_parser().parse_args(services["dashboard"]["command"][1:])
    assert jobs["ingest-dashboard"] == ("/metrics", [f"dashboard:{args.port}"])
    assert not is_loopback(args.host)
    # Spark's endpoints, at the paths docker/spark-conf switches on, on the nodes' UI ports.
    metrics = (SPARK_CONF / "metrics.properties").read_text()
    for job, node in (
        ("spark-driver", "stream:4040"),
        ("spark-executors", "stream:4040"),
        ("spark-master", "spark-master:8080"),
        ("spark-applications", "spark-master:8080"),
        ("spark-workers", "spark-worker:8081"),
    ):
        path, targets = jobs[job]
        assert targets == [node], job
        assert node.split(":")[0] in services, job
        assert path == "/metrics/executors/prometheus" or f"path={path}" in metrics, (job, path)
    exposed = re.search(r"^EXPOSE (.*)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert exposed is not None and "8081" in exposed.group(1).split()

    # Grafana: its data source is this Prometheus; its dashboards folder is the one mounted.
    provisioning = bind_mounts(grafana)["/etc/grafana/provisioning"][0]
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and source["uid"] == "prometheus"
    assert any(port.endswith(":9090/tcp") for port in published(prometheus))
    (provider,) = yaml.safe_load((provisioning / "dashboards/ingest.yml").read_text())["providers"]
    dashboards = bind_mounts(grafana)[provider["options"]["path"]][0]
    assert dashboards == REPO / "deploy" / "grafana" / "dashboards"
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["ingest.json"]
