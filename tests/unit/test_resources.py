"""Resource sampling with psutil, on this process (a child process and Spark's JVM: in
tests/integration/test_resources.py)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import psutil

from spark_app.telemetry.resources import ResourceSampler, environment


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


def test_environment_describes_the_machine() -> None:
    env = environment()
    assert env.cpu_cores == psutil.cpu_count()
    assert env.total_memory_mb == psutil.virtual_memory().total // 2**20
    assert env.python_version == "{}.{}.{}".format(*sys.version_info[:3])
    assert (env.hostname, env.os) == (socket.gethostname(), sys.platform)
