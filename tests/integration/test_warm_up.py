"""The stream's warm-up, on the test run's Spark session: it runs whole, writes nothing, and
reads its file on the executors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_app.job.batches import warm_up_executors
from spark_app.job.config import StreamSettings
from spark_app.job.stream import WARM_UP_FILE, warm_up


def test_the_warm_up_runs_whole_and_writes_nothing(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drop, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    drop.mkdir()
    caplog.set_level(logging.INFO, logger="spark_app.job.stream")
    warm_up(spark, StreamSettings(input_dir=str(drop), checkpoint_dir=str(checkpoint)))
    assert "warmed up in" in caplog.text
    assert "warm-up failed" not in caplog.text
    # Its stream ran over a folder of its own, now gone; the real ones are untouched.
    assert list(drop.iterdir()) == [] and not checkpoint.exists()
    assert not any(spark.streams.active)


def test_the_executors_read_the_whole_file(spark: SparkSession, tmp_path: Path) -> None:
    path = tmp_path / "warm-up.csv"
    path.write_text(WARM_UP_FILE, encoding="utf-8")
    records = len(WARM_UP_FILE.splitlines()) - 1
    # The file's records (a valid one, a rejected one) and its marker row.
    assert warm_up_executors(spark, path) == records + 1
