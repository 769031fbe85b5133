"""Benchmark suite (issue 6): ``python -m benchmarks.run``; see benchmarks/run.py."""
