"""Integration-tier fixtures: commands run by the tests keep their run history out of the
repository (the app's default is runs/history.json under the working directory)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def run_history_outside_the_repository(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """RUN_HISTORY_FILE in a temporary folder for every spark-submit the tests start."""
    previous = os.environ.get("RUN_HISTORY_FILE")
    os.environ["RUN_HISTORY_FILE"] = str(tmp_path_factory.mktemp("runs") / "history.json")
    yield
    if previous is None:
        os.environ.pop("RUN_HISTORY_FILE", None)
    else:
        os.environ["RUN_HISTORY_FILE"] = previous
