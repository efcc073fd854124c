"""Benchmarks: freshness, catch-up throughput against the usual alternatives, cost of history."""
