"""Benchmarks of Policy Timeline: figures and ratios against baselines measured in the same run.

Run `python -m bench --help` (or `make bench`); docs/benchmarks.md has the results and how to
read them. Nothing here is imported by the service.
"""
