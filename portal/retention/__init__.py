"""Retention: contribution content is crypto-shredded once its request has been closed for
its outcome's period (`portal retention run`), unless a legal hold keeps it."""
