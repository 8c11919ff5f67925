"""Notifiers that talk to a service outside Home Assistant themselves (email)."""
