"""The Spark-free packages, imported for real in a fresh interpreter, load no pyspark: what
tests/unit/test_layout.py reads from the source, including what third-party modules import."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SPARK_FREE_PACKAGES = (
    "spark_app.commands",
    "spark_app.common",
    "spark_app.runhistory",
    "spark_app.sink",
    "generator",
    "localdb",
    "localmysql",
    "localpg",
)
# Importing these runs a command.
NOT_IMPORTED = {"generator.__main__", "spark_app.commands.dashboard.__main__"}

# Import the modules one by one and name the first after which pyspark (or py4j) is loaded.
PROBE = """
import importlib, json, sys
imported, culprit = [], None
for name in sys.argv[1:]:
    importlib.import_module(name)
    imported.append(name)
    if culprit is None and {"pyspark", "py4j"} & set(sys.modules):
        culprit = name
print(json.dumps({"imported": imported, "culprit": culprit}))
"""


def spark_free_modules() -> list[str]:
    """Every module of SPARK_FREE_PACKAGES, each package before its modules."""
    names: list[str] = []
    for package_name in SPARK_FREE_PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        names.extend(
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{package_name}.")
            if info.name not in NOT_IMPORTED
        )
    return names


def probe(modules: list[str]) -> dict[str, object]:
    """Import `modules` in a fresh interpreter; which were imported, which loaded pyspark."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_walk_finds_the_modules_of_every_package() -> None:
    modules = spark_free_modules()
    for expected in ("spark_app.commands.health", "spark_app.commands.integrity",
                     "spark_app.commands.analytics", "spark_app.common.numbers",
                     "spark_app.runhistory.store", "spark_app.sink.protocol", "generator.cli",
                     "localdb.ports"):  # fmt: skip
        assert expected in modules


def test_the_spark_free_packages_never_load_pyspark() -> None:
    modules = spark_free_modules()
    result = probe(modules)
    assert result["imported"] == modules
    assert result["culprit"] is None, f"{result['culprit']} loads pyspark"


def test_the_probe_sees_a_module_that_loads_pyspark() -> None:
    result = probe(["spark_app.common.stats", "spark_app.parse.validate"])
    assert result["culprit"] == "spark_app.parse.validate"


def test_connecting_loads_neither_arrow_nor_psycopg() -> None:
    # The health check runs every few seconds: it connects through the drivers, never through
    # the dialects (pyarrow), and a MySQL sink never needs psycopg.
    probe = (
        "import sys, spark_app.sink.drivers, spark_app.commands.health;"
        "print(sorted({'pyarrow', 'psycopg'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
