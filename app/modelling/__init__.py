"""Domain models behind customer profiles: intent, lifetime value, price sensitivity, affinity, RFM."""
