"""Liveness and readiness: the probes (routes.py) and what they check (checks.py)."""
