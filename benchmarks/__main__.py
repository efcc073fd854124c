"""Benchmarks: catch-up against the usual alternatives, freshness, cost of a big table and of
history, per sink (`python -m benchmarks --help`)."""

from benchmarks.cli import main

if __name__ == "__main__":
    # Guarded: importing the package's modules (a layout or import test) must not start a run.
    raise SystemExit(main())
