"""Onboarding organisations into the pilot through their information-governance checklist,
and the changes that widen who can act for a partner, which need a second person
(docs/onboarding.md)."""
