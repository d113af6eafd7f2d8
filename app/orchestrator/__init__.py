"""The orchestrator: one pure policy between every acting agent and every channel.

Agents propose (``Proposal``); ``policy.decide`` answers each proposal with a ``Decision`` (send, defer, hold
out, suppress, with the reason) from the shopper's consent, quiet hours, the shop's one contact budget,
suppression rules and the agent's holdout. Plain Python over plain data; the stores load the facts and record
the decisions with their outbox rows.
"""
