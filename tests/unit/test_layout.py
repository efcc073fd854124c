"""The package layout keeps its promises: imports point down the layer map of
docs/ARCHITECTURE.md, the Spark-free packages never import pyspark, the old
`python -m spark_app.<command>` forms still work, and every console script resolves.

Imports are read from the source with `ast` (every import, lazy ones included), so nothing is
imported to check them; tests/integration/test_spark_free.py imports the modules for real.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
import inspect
import re
import runpy
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("spark_app", "generator", "localdb", "localmysql", "localpg", "benchmarks", "scripts")

# The layer map: what each part may import besides itself. Short names are spark_app's
# packages and modules; the top-level folders go by their own names. docs/ARCHITECTURE.md
# shows the same map (a test below compares them).
LAYERS: dict[str, tuple[str, ...]] = {
    "main": ("job", "parse", "sink", "telemetry", "runhistory", "common"),
    "job": ("parse", "sink", "telemetry", "runhistory", "common"),
    "commands": ("sink", "runhistory", "common"),
    "health": ("commands",),
    "report": ("commands",),
    "runs": ("commands",),
    "dashboard": ("commands",),
    "telemetry": ("sink", "runhistory", "common"),
    "parse": ("common",),
    "sink": ("common",),
    "runhistory": ("common",),
    "common": (),
    "generator": ("common",),
    "localmysql": ("localdb",),
    "localpg": ("localdb",),
    "localdb": (),
    "benchmarks": ("job", "parse", "sink", "common", "localmysql", "localpg"),
    "scripts": ("sink", "common", "localmysql", "localpg"),
}
# The old `python -m spark_app.<command>` forms: one line in the map for the four.
SHIMS = ("health", "report", "runs", "dashboard")
# Parts that never import pyspark (nor py4j), directly or through what they import.
SPARK_FREE = frozenset(
    {"commands", *SHIMS, "common", "runhistory", "sink", "generator"}
    | {"localdb", "localmysql", "localpg"}
)
SPARK = ("pyspark", "py4j")
# Imports against the map, each with its reason; every one must still be there.
EXCEPTIONS = {
    # Refused rows are turned back into files with the stream's own RFC 4180 splitter and
    # header kinds. Both modules are free of Spark (checked below); they belong in a part that
    # commands may import (common, or parse's pure modules as a part of their own).
    ("spark_app.commands.refused", "spark_app.parse.csvsplit"),
    ("spark_app.commands.refused", "spark_app.parse.pieces"),
}


def module_name(name: str) -> str:
    """The dotted module a short name of the map stands for."""
    return name if name in ROOTS else f"spark_app.{name}"


def part_of(module: str) -> str | None:
    """The map's name for the part a module belongs to (None: in no part)."""
    for name in LAYERS:
        full = module_name(name)
        if module == full or module.startswith(f"{full}."):
            return name
    return None


@cache
def source_modules() -> dict[str, Path]:
    """Every Python module of the project, by dotted name."""
    modules: dict[str, Path] = {}
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_in(source: str, package: str, modules: set[str]) -> list[str]:
    """What a module of `package` imports: absolute names, for `from X import y` X.y when that
    is one of `modules`, else X; inside functions too."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append(submodule if submodule in modules else base)
    return found


@cache
def imports_of(module: str) -> tuple[str, ...]:
    """What a module of the project imports."""
    modules = source_modules()
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return tuple(imports_in(path.read_text("utf-8"), package, set(modules)))


def is_ours(imported: str) -> bool:
    return imported.split(".")[0] in ROOTS


def documented_map() -> dict[str, tuple[str, ...]]:
    """The map as docs/ARCHITECTURE.md writes it (the text block after "Imports point")."""
    text = (REPO / "docs/ARCHITECTURE.md").read_text("utf-8")
    found = re.search(r"Imports point down.*?```text\n(.*?)```", text, re.DOTALL)
    assert found, "docs/ARCHITECTURE.md has no layer map"
    documented: dict[str, tuple[str, ...]] = {}
    for line in found.group(1).splitlines():
        left, _, right = line.partition("->")
        targets = tuple(name.strip() for name in right.split(",") if name.strip())
        for name in left.split(","):
            documented[name.strip()] = targets
    return documented


def test_the_map_is_the_one_in_architecture_md() -> None:
    assert documented_map() == LAYERS


def test_the_map_points_one_way() -> None:
    graphlib.TopologicalSorter(LAYERS).static_order()  # CycleError on a cycle
    assert all(target in LAYERS for targets in LAYERS.values() for target in targets)


def test_every_module_is_in_a_part_of_the_map() -> None:
    # spark_app itself is only the namespace of its parts.
    outside = [m for m in source_modules() if part_of(m) is None and m != "spark_app"]
    assert outside == []
    assert imports_of("spark_app") == ()


def test_the_reader_sees_every_way_of_writing_an_import() -> None:
    source = (
        "import json, spark_app.sink\n"
        "from spark_app.common import stats, database as db\n"
        "from . import sibling\n"
        "from ..job.config import load_config\n"
        "def later():\n"
        "    from pyspark.sql import functions\n"
    )
    modules = {
        "spark_app.common.stats",
        "spark_app.common.database",
        "spark_app.runhistory.sibling",
    }
    assert imports_in(source, "spark_app.runhistory", modules) == [
        "json", "spark_app.sink", "spark_app.common.stats", "spark_app.common.database",
        "spark_app.runhistory.sibling", "spark_app.job.config", "pyspark.sql",
    ]  # fmt: skip


def against_the_map() -> set[tuple[str, str]]:
    """(module, what it imports) for every import that points up or sideways."""
    wrong = set()
    for module in source_modules():
        part = part_of(module)
        if part is None:
            continue
        allowed = {part, *LAYERS[part]}
        wrong |= {
            (module, imported)
            for imported in filter(is_ours, imports_of(module))
            if part_of(imported) not in allowed
        }
    return wrong


def test_imports_point_down_the_map() -> None:
    assert sorted(against_the_map() - EXCEPTIONS) == []
    assert sorted(EXCEPTIONS - against_the_map()) == [], "no longer needed: remove them"


def reaches_spark(module: str, seen: set[str] | None = None) -> list[str]:
    """The chain of imports from `module` to pyspark or py4j; [] when there is none."""
    seen = set() if seen is None else seen
    seen.add(module)
    for imported in imports_of(module):
        if imported.split(".")[0] in SPARK:
            return [module, imported]
        ours = [m for m in (imported, imported.rpartition(".")[0]) if m in source_modules()]
        for next_module in ours[:1]:
            if next_module not in seen and (chain := reaches_spark(next_module, seen)):
                return [module, *chain]
    return []


def test_the_spark_free_parts_import_only_spark_free_parts() -> None:
    for name in SPARK_FREE:
        assert set(LAYERS[name]) <= SPARK_FREE, name


def test_the_spark_free_parts_never_import_pyspark() -> None:
    chains = [
        " -> ".join(chain)
        for module in source_modules()
        if part_of(module) in SPARK_FREE
        if (chain := reaches_spark(module))
    ]
    assert chains == []
    # The check can fail: a chain through the job's modules is found.
    assert reaches_spark("spark_app.job.stream")[-1].startswith("pyspark")


@pytest.mark.parametrize("module", SHIMS)
def test_the_old_module_forms_still_work(
    module: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module(f"spark_app.{module}", run_name="__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: ingest-{module}")


def console_scripts() -> dict[str, str]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        scripts: dict[str, str] = tomllib.load(handle)["project"]["scripts"]
    return scripts


def test_the_commands_have_console_scripts() -> None:
    targets = set(console_scripts().values())
    for command in ("health", "report", "runs", "migrate", "dashboard"):
        assert f"spark_app.commands.{command}:main" in targets


@pytest.mark.parametrize(("script", "target"), sorted(console_scripts().items()))
def test_every_console_script_points_at_a_callable(script: str, target: str) -> None:
    module_path, _, attribute = target.partition(":")
    function = importlib.import_module(module_path)
    for part in attribute.split("."):
        function = getattr(function, part)
    assert callable(function), f"{script}: {target} is not callable"
    # The generated script calls it without arguments: sys.exit(main()).
    inspect.signature(function).bind()
