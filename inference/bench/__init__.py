"""Tooling beside the serving code: `blipbot bench` and the random-weight models it and the tests use.

Nothing in `inference` outside this package imports it; `run_bench` is the entry point the CLI calls.
"""

from inference.bench.runner import run_bench

__all__ = ["run_bench"]
