"""Benchmarks for jobctl: ``make bench`` (``bench.run``) measures and reports (README)."""
