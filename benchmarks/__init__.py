"""Benchmarks: catch-up against the usual alternatives, freshness, cost of big tables."""
