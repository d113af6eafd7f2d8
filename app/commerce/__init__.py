"""Commerce domain: how Shopify resources (from webhooks or bulk backfill) become rows, in any order."""
