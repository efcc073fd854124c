"""The real job on a real Spark standalone cluster: a master and one worker on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark
import pytest

from localmysql import free_port
from spark_app.job.batches import SPLIT_HERE_BYTES
from spark_app.job.session import APP_NAME
from tests.conftest import REPO
from tests.helpers import assert_sink_matches, generate
from tests.sinks import SinkUnderTest

pytestmark = pytest.mark.integration

SPARK_CLASS = Path(pyspark.__file__).resolve().parent / "bin" / "spark-class"
# The machine is small and shared: a JVM start or a batch can be slow.
TIMEOUT = 300.0


@dataclass(frozen=True)
class Cluster:
    """A running standalone master with one registered worker."""

    url: str
    ui: str
    work_dir: Path

    def state(self) -> dict[str, Any]:
        """The master's status page as JSON."""
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=10) as response:
            return json.load(response)  # type: ignore[no-any-return]


def daemon_env() -> dict[str, str]:
    """Environment of master and worker: loopback only, executors on this Python, no secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "PG", "SPARK_"))}
    env.update({"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable})
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A Spark daemon from pyspark's own bin/spark-class, in its own process group."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_CLASS), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a daemon's process group (the worker's executors too); kill if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    except ProcessLookupError:
        pass


def wait_for_worker(
    cluster: Cluster, daemons: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    """Until the master's JSON shows one alive worker; fails with the daemons' logs."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if any(daemon.poll() is not None for daemon in daemons):
            break
        try:
            if cluster.state().get("aliveworkers") == 1:
                return
        except (OSError, ValueError):
            pass  # not listening yet, or (just started) answering with its HTML page
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
    pytest.fail(f"the worker did not register with the master:\n{tails}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A standalone master and one worker (1 core, 1 GiB) on free loopback ports."""
    env = daemon_env()
    port, ui_port, worker_ui_port = free_port(), free_port(), free_port()
    logs = [tmp_path / "master.log", tmp_path / "worker.log"]
    spark = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", tmp_path / "work")
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        daemons.append(
            start(
                ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                 "--port", str(port), "--webui-port", str(ui_port)],
                env, logs[0],
            )
        )  # fmt: skip
        daemons.append(
            start(
                ["org.apache.spark.deploy.worker.Worker", spark.url, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui_port),
                 "--work-dir", str(spark.work_dir)],
                {**env, "SPARK_LOCAL_DIRS": str(tmp_path / "local")}, logs[1],
            )
        )  # fmt: skip
        wait_for_worker(spark, daemons, logs)
        yield spark
    finally:
        for daemon in reversed(daemons):
            stop(daemon)


def finished_app(cluster: Cluster) -> dict[str, Any]:
    """The master's record of this job, once the master has seen it finish."""
    deadline = time.monotonic() + 60
    while True:
        state = cluster.state()
        apps = [app for app in state["completedapps"] if app["name"] == APP_NAME]
        if apps or time.monotonic() > deadline:
            assert len(apps) == 1, f"the master lists {len(apps)} finished {APP_NAME}: {state}"
            return apps[0]  # type: ignore[no-any-return]
        time.sleep(0.5)


@dataclass(frozen=True)
class EventLog:
    """What a Spark event log says about where the job ran."""

    master: str | None
    # One entry per root SQL execution that parsed files (a micro-batch, or a read-ahead of
    # the next one): the (executor id, host) of its tasks.
    batches: list[set[tuple[str, str]]]


def read_event_log(path: Path) -> EventLog:
    """spark.master, and the executors that ran the tasks of each micro-batch that parsed."""
    master: str | None = None
    # A micro-batch is one root SQL execution; its plan splits the files with mapInArrow, and
    # the collect of foreachBatch runs as a nested execution whose jobs carry the root's id.
    roots: list[str] = []
    stage_root: dict[int, str] = {}
    tasks: list[tuple[int, str, str]] = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerEnvironmentUpdate":
            master = event["Spark Properties"].get("spark.master", master)
        elif kind.endswith("SparkListenerSQLExecutionStart"):
            if "MapInArrow" in event.get("physicalPlanDescription", ""):
                roots.append(str(event["rootExecutionId"]))
        elif kind == "SparkListenerJobStart":
            root = event["Properties"].get("spark.sql.execution.root.id")
            for stage in event["Stage IDs"]:
                stage_root[stage] = root
        elif kind == "SparkListenerTaskEnd":
            info = event["Task Info"]
            tasks.append((event["Stage ID"], info["Executor ID"], info["Host"]))
    batches = [
        {(executor, host) for stage, executor, host in tasks if stage_root.get(stage) == root}
        for root in dict.fromkeys(roots)
    ]
    return EventLog(master, batches)


def test_job_runs_on_a_standalone_cluster(
    cluster: Cluster, mysql: SinkUnderTest, tmp_path: Path
) -> None:
    drop, checkpoint, event_logs = tmp_path / "drop", tmp_path / "checkpoint", tmp_path / "events"
    event_logs.mkdir()
    env = {**mysql.env(), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    # Files over 1 MiB: a smaller batch is split on the driver (SPLIT_HERE_BYTES), and this
    # test is about the executors splitting and checking them.
    files = generate(env, drop, 3, 21, "--events-per-file", "15000")
    assert len(files) == 3 and all(path.stat().st_size > SPLIT_HERE_BYTES for path in files)

    # An uncompressed single-file event log, to read where the tasks ran.
    event_log_conf = {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": str(event_logs),
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
    }
    # Spark merges the Python driver's stderr into its stdout: read them as one stream.
    submitted = subprocess.run(
        ["spark-submit", "--master", cluster.url,
         *(arg for key, value in event_log_conf.items() for arg in ("--conf", f"{key}={value}")),
         "spark_app/main.py", *mysql.args, "--input-dir", str(drop),
         "--checkpoint-dir", str(checkpoint), "--available-now", "--max-files-per-trigger", "1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    output = submitted.stdout
    assert submitted.returncode == 0, output[-5000:]
    assert "batch 2: 1 file(s), " in output, output[-5000:]
    assert env["MYSQL_PASSWORD"] not in output
    assert_sink_matches(mysql, files)

    # The driver's master was the cluster...
    (event_log,) = event_logs.iterdir()
    log = read_event_log(event_log)
    assert log.master == cluster.url, f"the driver ran with spark.master={log.master}"
    # ...which ran the application to its end...
    app = finished_app(cluster)
    assert app["id"] == event_log.name
    assert app["state"] == "FINISHED", app
    # ...the worker launched its executors, which received spark_app (no JDBC jar needed)...
    executors = [path for path in (cluster.work_dir / app["id"]).iterdir() if path.is_dir()]
    assert executors, f"no executor folder under {cluster.work_dir / app['id']}"
    for executor in executors:
        assert (executor / "stderr").is_file()
        assert (executor / "spark_app.zip").is_file()
        assert not list(executor.glob("*.jar")), f"a jar was shipped to {executor}"
    # ...and those executors ran every task that split and checked the files: a micro-batch's
    # own, or the read-ahead of its first wave while the batch before was written (one file
    # per batch here, so at least one such execution per file).
    assert len(log.batches) >= len(files), log
    on_worker = {(executor.name, "127.0.0.1") for executor in executors}
    for tasks in log.batches:
        assert tasks and tasks <= on_worker, (tasks, on_worker)
