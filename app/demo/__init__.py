"""The demo: a sandbox store, built from a real dataset sample, replayed through the real app."""
