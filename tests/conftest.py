"""What both tiers share. The fixtures that start Spark or a database server are in
tests/integration/conftest.py, so a unit test cannot ask for them."""

from __future__ import annotations

import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def postgres_base() -> Path:
    """A folder for a private PostgreSQL cluster, outside pytest's tree: its server runs as the
    `postgres` user, which must traverse every parent, and a later pytest run resets the
    permissions of /tmp/pytest-of-<user> to 0700."""
    return Path(tempfile.mkdtemp(prefix="ingest-pg-"))
