"""Resource sampling with psutil, on real processes (this one and, with Spark, its JVM)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import psutil
from pyspark.sql import SparkSession

from spark_app.telemetry.resources import ResourceSampler, driver_processes, environment


def burn_cpu(seconds: float) -> None:
    """Keep this process busy until it has used `seconds` of CPU time."""
    me = psutil.Process()
    start = sum(me.cpu_times()[:2])
    while sum(me.cpu_times()[:2]) - start < seconds:
        sum(i * i for i in range(10_000))


def test_sampler_measures_this_process() -> None:
    sampler = ResourceSampler([psutil.Process()])
    burn_cpu(0.2)  # CPU time between the start and the first sample
    sampler.sample()
    sampler.sample()
    summary = sampler.summary()
    assert 0 < summary.cpu.peak_percent <= 100
    assert 0 <= summary.cpu.avg_percent <= summary.cpu.peak_percent
    rss = psutil.Process().memory_info().rss / 2**20
    assert 0.5 * rss <= summary.memory.avg_mb <= summary.memory.peak_mb <= 2 * rss


def test_sampler_counts_disk_writes_of_its_processes(tmp_path: Path) -> None:
    sampler = ResourceSampler([psutil.Process()])
    with (tmp_path / "blob").open("wb") as out:
        out.write(b"x" * (4 * 2**20))
        out.flush()
        os.fsync(out.fileno())
    sampler.sample()
    assert sampler.summary().disk.write_mb >= 3.9


def test_a_process_that_ended_is_skipped() -> None:
    sampler = ResourceSampler([psutil.Process()])
    sampler.processes.append(psutil.Popen(["true"]))
    sampler.processes[-1].wait()
    sampler.sample()
    assert sampler.summary().memory.peak_mb > 0


def test_the_jvm_of_a_local_session_is_found(spark: SparkSession) -> None:
    # In-process (as under pytest) PySpark starts the JVM as a child of Python.
    processes = driver_processes()
    assert processes[0].pid == psutil.Process().pid
    assert any("java" in p.name() for p in processes[1:]), [p.name() for p in processes]


def test_environment_describes_the_machine() -> None:
    env = environment()
    assert env.cpu_cores == psutil.cpu_count()
    assert env.total_memory_mb == psutil.virtual_memory().total // 2**20
    assert env.python_version == "{}.{}.{}".format(*sys.version_info[:3])
    assert (env.hostname, env.os) == (socket.gethostname(), sys.platform)
