"""Benchmarks; each module exposes one click command and reports against a same-run peer."""
