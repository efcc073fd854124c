"""Spark Structured Streaming job: CSV file drops into MySQL, exactly once."""
