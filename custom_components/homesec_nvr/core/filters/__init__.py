"""Object filters (behind the ObjectFilter interface)."""
