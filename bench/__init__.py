"""Benchmarks: `python bench/run.py` prints the throughput/latency table (see docs/benchmarks.md)."""
