"""Everything that speaks Shopify: request verification, OAuth, the Admin API client, a local fake.

This package is the only importer of the ``shopify`` (ShopifyAPI) library.
"""
