"""Helpers that build tiny real models and data for tests and CPU demos (no hub access)."""
