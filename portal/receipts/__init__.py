"""Anyone can check a receipt the portal signed: the public verification page."""
