"""The benchmark harness in its --quick mode: a smoke test of the harness, not a timing.

The harness starts its own servers; it is skipped (with the reason) while one of its modules
does not import.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pngfile import png_size

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _import_problem() -> str | None:
    """The first benchmarks module that fails to import, and why (None: all import)."""
    try:
        package = importlib.import_module("benchmarks")
        # __main__ is left out: importing it runs the benchmark.
        names = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "__main__"]
        for name in names:
            importlib.import_module(f"benchmarks.{name}")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


PROBLEM = _import_problem()
if PROBLEM is not None:
    pytest.skip(f"the benchmarks package does not import: {PROBLEM}", allow_module_level=True)


def harness_env() -> dict[str, str]:
    """This environment with the venv first on PATH, and no database or Spark settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "PG", "INGEST_SINK"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("SPARK_HOME", None)
    return env


def test_quick_catch_up_runs_and_saves_its_results(tmp_path: Path) -> None:
    # One scenario on one sink keeps the suite short; `python -m benchmarks --quick` runs all.
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--sink", "mysql", "--only", "catch_up",
         "--output-dir", str(tmp_path)],
        cwd=REPO, env=harness_env(), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = json.loads((tmp_path / "quick.json").read_text())
    assert results["quick"] is True
    sizes = results["sizes"]
    catch = results["catch_up"]["mysql"]
    assert "error" not in catch, catch.get("error")
    assert catch["rows"] == sizes["catchup_files"] * sizes["catchup_rows"]
    runs = [*catch["pipeline"].values(), *catch["baselines"].values()]
    assert runs and all(run["rows_per_s"] > 0 for run in runs)
    width, height = png_size(tmp_path / "quick.png")
    assert width > 0 and height > 0
    assert f"saved {tmp_path / 'quick.json'}" in result.stdout
