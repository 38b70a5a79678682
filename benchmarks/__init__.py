"""Benchmarks: each prints a table and writes it under benchmarks/results/. Run from the repo root as modules,
e.g. `.venv/bin/python -m benchmarks.overhead` (`make bench` runs them all)."""
