"""The benchmark regression gate: ratios of a run against ``benchmarks/baseline.json``.

Run it as ``python -m tools.bench_gate`` (see ``tools/README.md``). It reads the
``metrics`` of a results file written by ``python -m benchmarks run``: each one a
ratio between Djed and a peer measured in the same run, with the direction that is
better. It never looks at absolute times, which do not carry over between machines.
"""

from tools.bench_gate._compare import THRESHOLD, Verdict, compare, worse_by
from tools.bench_gate.cli import main

__all__ = ["THRESHOLD", "Verdict", "compare", "main", "worse_by"]
