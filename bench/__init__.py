"""Relay's benchmarks: every figure measured beside the floor of its own stack, in one run.

Run ``python -m bench [--quick] [--only NAME]`` (or ``make bench``); it writes ``BENCHMARKS.md``.
"""
