"""Themis: benchmark, mine data for, train and serve multi-criteria code reward models."""

__version__ = "0.1.0"
