"""Plain helpers for tests and benchmarks; pytest fixtures live in the conftest files.

Nothing here imports pytest: the benchmarks in bench/ use these modules after an
install without the dev extra.
"""
