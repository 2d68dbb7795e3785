"""Benchmarks: ``python -m lmulator.bench overhead|...``."""
