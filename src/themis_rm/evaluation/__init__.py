"""Evaluation: run a scorer over pairs, compute metrics with uncertainty, report and compare runs."""
