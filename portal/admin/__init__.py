"""The portal administrator's pages (routes.py, deliveries.py): organisations, their identity
providers, and the deliveries to the case management system."""
