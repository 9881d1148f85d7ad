"""The CMS connector: adapters that speak to a council's case management system, the outbox
worker that delivers accepted contributions exactly once, and reconciliation."""
