"""Data: synthetic references, error injection, dataset conversion."""
