"""Resource sampling with psutil on processes of their own: a child that ends, Spark's JVM."""

from __future__ import annotations

import psutil
import pytest
from pyspark.sql import SparkSession

from spark_app.telemetry.resources import ResourceSampler, driver_processes

pytestmark = pytest.mark.integration


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
