"""Benchmarks, kept out of the test suite: each prints figures against a baseline from the same run.

Run one from the repository root, e.g. ``.venv/bin/python -m bench.ipc`` (what ``make bench``
calls). The machine is shared and noisy, so targets are reported as PASS/MISS for reading, never
as a failing exit code: a benchmark exits non-zero only when it could not measure.
"""
