"""Offline backtests on real data; each module exposes one click command."""
