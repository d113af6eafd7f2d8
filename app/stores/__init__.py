"""Stores: load and save one shop's domain objects (profiles, identity links, vectors, scorers, lists, rules,
conversations). A session comes in, domain objects or plain data go out; no commits (the job or the request
that owns the transaction commits), no RQ, no Flask. Every query is scoped by ``shop_id``."""
