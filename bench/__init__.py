"""Benchmarks and the demo call, all against the local stack with emulated providers."""
