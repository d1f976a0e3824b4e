"""Use cases: the flows that join the pure rules with the adapters."""
