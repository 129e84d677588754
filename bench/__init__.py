"""Benchmarks run by ``make bench`` (``python -m bench``).

Each benchmark starts its own emulators (moto + Azurite) in a temporary ``LAKEHOUSE_HOME``
and stops them, even on error. Progress goes to stderr; stdout ends with one ``name: value``
line per figure. ``BENCH_SCALE`` (float, default 1.0) shrinks or grows the data sizes.
"""
