"""Benchmarks that print figures (ratios or against a stated budget); never run as tests."""
