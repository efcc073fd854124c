"""The live dashboard: `python -m spark_app.dashboard` (see cli.py). Never imports pyspark."""

from spark_app.commands.dashboard.cli import main

__all__ = ["main"]
