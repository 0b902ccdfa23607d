"""check_model's time, this checkout against another revision, side by side in one run.

    git worktree add /tmp/old <revision>
    python benchmarks/bench_versions.py /tmp/old            # 5 rounds
    python benchmarks/bench_versions.py /tmp/old --rounds 9 --quick
    python benchmarks/bench_versions.py /tmp/old --path generic     # only check_model(fast=False)
    python benchmarks/bench_versions.py /tmp/old --blas-threads 1   # less noise on a busy machine

Each round times, in a fresh process per version and alternating between them (so that a change
of load touches both alike), ``check_model`` on the benchmark's problems: the structure-aware
path (``fast=True``) and the generic one (``fast=False``, on the smaller models only: it costs
2n loss evaluations), the best of three calls each, and F, one loss evaluation. Printed per
problem and path: the median over rounds of each version's time divided by its own F (so a
slower moment of the machine cancels), and the ratio new / old of those medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# (name, layer sizes, batch, model keywords, paths timed)
PROBLEMS = [
    ("MLP([64, 128, 128, 10]) b256", [64, 128, 128, 10], 256, {}, ("fast",)),
    ("MLP([784, 100, 10]) b64", [784, 100, 10], 64, {}, ("fast",)),
    ("batchnorm MLP([64, 64, 64, 10]) b128", [64, 64, 64, 10], 128, {"batchnorm": True},
     ("fast", "generic")),
    ("dropout MLP([64, 64, 64, 10]) b128", [64, 64, 64, 10], 128, {"dropout": 0.2},
     ("fast", "generic")),
]
QUICK = [("MLP([8, 16, 4]) b32", [8, 16, 4], 32, {}, ("fast", "generic")),
         ("batchnorm MLP([8, 8, 4]) b16", [8, 8, 4], 16, {"batchnorm": True},
          ("fast", "generic"))]

CHILD = r"""
import json, sys, time
import numpy as np
import gradcheck_edu as ge

problems = json.loads(sys.argv[1])
out = {}
for name, sizes, batch, kw, paths in problems:
    model = ge.nn.MLP(sizes, activation="tanh", loss="softmax_cross_entropy", seed=0, **kw)
    model.freeze_dropout(0)  # (as bench_gradcheck.py: no dropout layers, nothing to freeze)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((batch, sizes[0])), rng.integers(0, sizes[-1], batch)
    def best(fn, k=3):
        times = []
        for _ in range(k):
            t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
        return min(times)
    F = best(lambda: [model.loss(X, y) for _ in range(50)], 5) / 50
    row = {"F": F}
    for path in paths:
        if path == "fast":  # (warm: the generic path's one call is 2n loss calls long)
            assert ge.check_model(model, X, y, fast=True).passed
        row[path] = best(lambda: ge.check_model(model, X, y, fast=path == "fast"),
                         3 if path == "fast" else 1)
    out[name] = row
print(json.dumps(out))
"""


def run(source: Path, problems: list, threads: int | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(source))
    if threads:  # the same for both versions: one source of noise less on a shared machine
        env.update({v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "MKL_NUM_THREADS")})
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(problems)], env=env,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="a checkout of the revision to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny problems (a smoke run)")
    parser.add_argument("--path", choices=("fast", "generic"), help="time only this path")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="threads of NumPy's BLAS in both versions (default: its own)")
    args = parser.parse_args()
    problems = [(name, sizes, batch, kw, tuple(p for p in paths if args.path in (None, p)))
                for name, sizes, batch, kw, paths in (QUICK if args.quick else PROBLEMS)]
    problems = [p for p in problems if p[-1]]
    seen: dict = {"new": [], "old": []}
    for r in range(args.rounds):
        order = (("new", HERE), ("old", args.other)) if r % 2 == 0 else (
            ("old", args.other), ("new", HERE))
        for label, source in order:
            seen[label].append(run(source, problems, args.blas_threads))
    threads = f", BLAS threads {args.blas_threads}" if args.blas_threads else ""
    print(f"{args.rounds} rounds, alternating processes{threads}; time / F (median over rounds)")
    print(f"{'problem':40s} {'path':8s} {'old':>9s} {'new':>9s} {'new/old':>8s}")
    for name, *_, paths in problems:
        for path in paths:
            med = {v: statistics.median(row[name][path] / row[name]["F"] for row in seen[v])
                   for v in seen}
            print(f"{name:40s} {path:8s} {med['old']:9.1f} {med['new']:9.1f} "
                  f"{med['new'] / med['old']:8.3f}")


if __name__ == "__main__":
    main()
