"""Settings of the run recorder and the status line, from the environment (read once, in main)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from spark_app.common.numbers import NumberError, env_number
from spark_app.runhistory.store import DEFAULT_HISTORY_FILE, history_path


@dataclass(frozen=True)
class ObservabilitySettings:
    """Where run records go, how often they are refreshed, how often a status line is logged."""

    history_file: Path = Path(DEFAULT_HISTORY_FILE)
    # Also the stream's heartbeat for the health check (--max-heartbeat-age, 180 s).
    record_interval: float = 60.0
    sample_interval: float = 5.0
    status_every: int = 10


def observability_from_env(environ: Mapping[str, str] | None = None) -> ObservabilitySettings:
    """RUN_HISTORY_FILE, RUN_RECORD_INTERVAL_SECONDS, RESOURCE_SAMPLE_SECONDS and
    STATUS_EVERY_BATCHES (0: no status line); errors name the variable."""
    env = os.environ if environ is None else environ
    defaults = ObservabilitySettings()
    every = env_number(env, "STATUS_EVERY_BATCHES", float, defaults.status_every)
    if not float(every).is_integer():  # 2.5, inf and nan alike
        raise NumberError(f"STATUS_EVERY_BATCHES must be a whole number, got {every:g}")
    return ObservabilitySettings(
        history_file=history_path(env),
        record_interval=env_number(
            env, "RUN_RECORD_INTERVAL_SECONDS", float, defaults.record_interval, minimum=1.0
        ),
        sample_interval=env_number(
            env, "RESOURCE_SAMPLE_SECONDS", float, defaults.sample_interval, minimum=0.1
        ),
        status_every=int(every),
    )
