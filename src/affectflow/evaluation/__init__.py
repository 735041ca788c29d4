"""Metrics, significance tests and result tables."""
