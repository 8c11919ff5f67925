"""Clip sources (behind the ClipSource interface)."""
