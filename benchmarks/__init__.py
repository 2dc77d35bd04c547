"""Benchmarks run from the source tree (`python -m benchmarks.codec`, the peers servers)."""
