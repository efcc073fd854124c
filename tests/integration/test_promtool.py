"""promtool, when installed, accepts deploy/'s alert rules and Prometheus configuration."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.metrics_samples import ALERTS, PROMETHEUS

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules_and_the_config() -> None:
    for args in (["check", "rules", str(ALERTS)], ["check", "config", str(PROMETHEUS)]):
        result = subprocess.run(
            ["promtool", *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
