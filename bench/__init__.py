"""Benchmarks: scripts run from the repository root (bench/README.md), and their modules."""
