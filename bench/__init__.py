"""Benchmarks that print a table (run with `make bench` or `python -m bench.<name>`)."""
