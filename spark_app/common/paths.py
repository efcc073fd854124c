"""Spark locations that are folders of this machine."""

from __future__ import annotations

from pathlib import Path


def local_path(location: str) -> Path | None:
    """The local folder a Spark location names (`dir`, `file:/dir`, `file:///dir`); None for a
    remote store (`hdfs://`, `s3a://`, ...)."""
    if "://" in location and not location.startswith("file:"):
        return None
    return Path(location.removeprefix("file://").removeprefix("file:"))
