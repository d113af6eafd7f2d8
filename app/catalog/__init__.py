"""Catalogue understanding: product text, embeddings (pure job logic) and per-shop similarity search."""
