"""Shopper profiles: the pure parts (state folding, explicit summaries, derived scores, merges, shop parameters)."""
