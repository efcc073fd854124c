"""Operator commands. None of them imports pyspark (tests/unit/test_layout.py enforces it)."""
