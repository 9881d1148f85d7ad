"""Delegation requests: social workers issue them; partners find them in their inbox."""
