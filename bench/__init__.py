"""Benchmarks: `make bench` (bench.run) measures the orglink stack's lifecycle on the emulator."""
