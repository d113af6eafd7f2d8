"""Agents: plain Python over plain data (facts in, decisions and replies out). Agents do not import each other."""
