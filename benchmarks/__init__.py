"""The cross-package performance report of the Djed workspace.

``python -m benchmarks run`` runs every package's pytest-benchmark suite and the load
tests of ``benchmarks/load/``, keeps what they measured in ``benchmarks/results/`` and
regenerates the summary of ``docs/PERFORMANCE.md``. See ``benchmarks/README.md``.
"""
