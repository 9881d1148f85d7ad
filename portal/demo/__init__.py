"""Fictional demo data. Every name here is invented."""
