"""Benchmarks: `make bench` (python -m bench) prints one table and writes bench/RESULTS.md."""
