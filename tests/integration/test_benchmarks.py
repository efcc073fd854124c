"""The benchmark harness in its --quick mode: a smoke test of the harness, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pngfile import png_size

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_every_scenario_and_saves_its_results(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output-dir", str(tmp_path)],
        cwd=REPO,
        env=app_env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    results = json.loads((tmp_path / "quick.json").read_text())
    assert results["quick"] is True
    fresh, catch, history = results["freshness"], results["catch_up"], results["history"]
    assert fresh["files"] == results["sizes"]["fresh_files"]
    assert 0 < fresh["p50_s"] <= fresh["p99_s"]
    rows = results["sizes"]["catchup_files"] * results["sizes"]["catchup_rows"]
    assert catch["rows"] == rows
    for loader in ("pipeline", "spark_jdbc_append", "executemany", "load_data"):
        assert catch[loader]["rows_per_s"] > 0, loader
    assert history["files_left_in_input_dir"] <= 1  # processed files were archived
    assert history["files_in_archive"] >= results["sizes"]["history_large"]
    assert png_size(tmp_path / "quick.png") == (1700, 450)
    assert "| catch-up, this pipeline" in result.stdout
