"""Settings of the run recorder and the status line, from the environment (read once, in main)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from spark_app.config import ConfigError
from spark_app.runstore import DEFAULT_HISTORY_FILE, history_path


@dataclass(frozen=True)
class ObservabilitySettings:
    """Where run records go, how often they are refreshed, how often a status line is logged."""

    history_file: Path = Path(DEFAULT_HISTORY_FILE)
    record_interval: float = 300.0
    sample_interval: float = 5.0
    status_every: int = 10


def _number(environ: Mapping[str, str], key: str, default: float, minimum: float) -> float:
    text = environ.get(key, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {text!r}") from None
    if not value >= minimum:
        raise ConfigError(f"{key} must be >= {minimum:g}, got {text!r}")
    return value


def observability_from_env(environ: Mapping[str, str] | None = None) -> ObservabilitySettings:
    """RUN_HISTORY_FILE, RUN_RECORD_INTERVAL_SECONDS, RESOURCE_SAMPLE_SECONDS and
    STATUS_EVERY_BATCHES (0: no status line); errors name the variable."""
    env = os.environ if environ is None else environ
    defaults = ObservabilitySettings()
    every = _number(env, "STATUS_EVERY_BATCHES", defaults.status_every, 0)
    if every != int(every):
        raise ConfigError(f"STATUS_EVERY_BATCHES must be a whole number, got {every:g}")
    return ObservabilitySettings(
        history_file=history_path(env),
        record_interval=_number(env, "RUN_RECORD_INTERVAL_SECONDS", defaults.record_interval, 1.0),
        sample_interval=_number(env, "RESOURCE_SAMPLE_SECONDS", defaults.sample_interval, 0.1),
        status_every=int(every),
    )
