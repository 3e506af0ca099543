"""Themis: benchmark, mine data for and train multi-criteria code reward models."""

__version__ = "0.1.0"
