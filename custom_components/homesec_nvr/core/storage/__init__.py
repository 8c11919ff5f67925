"""Storage backends (behind the StorageBackend interface)."""
