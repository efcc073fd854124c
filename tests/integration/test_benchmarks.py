"""The benchmark harness in its --quick mode: a smoke test of the harness, not a timing.

The harness starts its own servers. Its modules are imported here first, so one that does not
import fails the run at once instead of hiding the test.
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
from PIL import Image  # Pillow: a dependency of matplotlib

import benchmarks

pytestmark = pytest.mark.integration

# Every module but __main__ (importing that runs the benchmark).
for _module in pkgutil.iter_modules(benchmarks.__path__):
    if _module.name != "__main__":
        importlib.import_module(f"benchmarks.{_module.name}")

REPO = Path(__file__).resolve().parents[2]


def harness_env() -> dict[str, str]:
    """This environment with the venv first on PATH, and no database or Spark settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_", "PG", "INGEST_SINK"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("SPARK_HOME", None)
    return env


def test_quick_catch_up_runs_and_saves_its_results(tmp_path: Path) -> None:
    # Two scenarios on one sink keep the suite short; `python -m benchmarks --quick` runs all.
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--sink", "mysql", "--only", "catch_up",
         "--only", "ceilings", "--output-dir", str(tmp_path)],
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
    # The catch-up's halves alone: the same backlog read by Spark, then written by the sink.
    ceiling = results["ceilings"]["mysql"]
    assert "error" not in ceiling, ceiling.get("error")
    assert ceiling["write"]["rows"] == catch["rows"]
    # Every record of the backlog, and a marker row per file.
    assert ceiling["read"]["warm"]["records"] == catch["rows"] + sizes["catchup_files"]
    assert 0 < ceiling["bound_rows_per_s"] <= ceiling["write"]["rows_per_s"]
    with Image.open(tmp_path / "quick.png") as image:
        assert image.format == "PNG"
        assert image.width > 0 and image.height > 0
    assert f"saved {tmp_path / 'quick.json'}" in result.stdout
