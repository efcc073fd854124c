"""Resource sampling with psutil, on real processes (this one and, with Spark, its JVM)."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
from pyspark.sql import SparkSession

from spark_app.telemetry.resources import ResourceSampler, driver_processes, environment


def test_sampler_measures_this_process() -> None:
    sampler = ResourceSampler([psutil.Process()])
    burn = sum(i * i for i in range(300_000))  # some CPU between the samples
    sampler.sample()
    assert burn > 0
    sampler.sample()
    summary = sampler.summary()
    assert 0 <= summary.cpu.avg_percent <= summary.cpu.peak_percent <= 100
    rss = psutil.Process().memory_info().rss / 2**20
    assert 0.5 * rss <= summary.memory.avg_mb <= summary.memory.peak_mb <= 2 * rss
    assert summary.disk.read_mb >= 0 and summary.disk.write_mb >= 0


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
    assert env.python_version.count(".") == 2
    assert env.hostname and env.os
