"""Recommenders as plain domain code: NumPy/SciPy over compact id-indexed arrays, no Flask, RQ or database."""
