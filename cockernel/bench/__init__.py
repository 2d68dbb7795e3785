"""Kernel benchmarks: ``python -m cockernel.bench overhead``."""
