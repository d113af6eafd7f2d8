"""Storefront serving: holdout assignment, the cached read path behind the app proxy, the local storefront."""
