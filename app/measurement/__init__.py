"""Measurement, pure: incremental lift of each agent against its holdout group (plain data in, plain data out)."""
