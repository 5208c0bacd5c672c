"""Evaluation: judge agreement and (later) benchmark metrics."""
