"""Benchmarks for jobctl: API economy, handler overhead, cold start, local stack throughput.

``python -m bench.run`` (or ``make bench``) runs each measurement in its own interpreter,
one after another, and writes ``bench/results.json`` and the README's table. These are
measurements, never pass/fail tests: the targets are reported next to the figures.
"""
