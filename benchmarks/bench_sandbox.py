"""What the sandbox costs: start-up, cells, one call, and grading a layer through it.

Side by side in one run, in interleaved rounds (median reported):

* start: a plain ``python -I -c "import numpy"`` against a bubblewrap sandbox started until its
  runner is ready (numpy and gradcheck_edu imported) and closed again;
* the cells of hw_layers' solution notebook, run in the sandbox;
* one call: a remote function returning a number; ``Conv2d.forward`` on a remote layer (its
  ``params``/``grads`` mirrored, one weight perturbed before each call, as a gradient check
  does) against the same forward on the real class;
* ``grade_layer`` on each hw_layers layer, through the sandbox and on the real class.

    python benchmarks/bench_sandbox.py [--rounds 5] [--course DIR]

``--course`` is a folder made by ``gradcheck-edu assignments build --out DIR`` (default: build
hw_layers into a temporary folder first).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gradcheck_edu.grading import grade_layer
from gradcheck_edu.sandbox import Limits, Sandbox
from gradcheck_edu.sandbox.cells import read_cells

REPO = Path(__file__).resolve().parents[1]
INPUTS = {"Affine": ((5, 3), (4, 5)), "ReLU": ((), (4, 5)), "Sigmoid": ((), (4, 5)),
          "SoftmaxCrossEntropy": ((np.array([0, 2, 1, 0]),), (4, 3)),
          "BatchNorm": ((5,), (4, 5)), "Dropout": ((0.7, (4, 5)), (4, 5)),
          "Conv2d": ((2, 3), (2, 2, 4, 4)), "MaxPool": ((), (2, 2, 4, 4))}


def timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--course", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course = args.course
        if course is None:
            from gradcheck_edu.assignments import build

            course = Path(tmp)
            build(course, [REPO / "assignments" / "hw_layers.ipynb"])
        run(course / "autograder" / "hw_layers.ipynb", args.rounds)


def run(solution: Path, rounds: int) -> None:
    local: dict = {"grader": type("Stub", (), {"check": lambda self, q: None})()}
    for cell in read_cells(solution):
        if "otter" not in cell.defines:
            exec(cell.source, local)
    src = Path(tempfile.mkdtemp()) / "calls.ipynb"
    src.write_text(solution.read_text())
    rng = np.random.default_rng(0)
    limits = Limits(cell_seconds=60, call_seconds=60, submission_seconds=600)
    times: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        times.setdefault(key, []).append(value)

    n_calls = 200
    for _ in range(rounds):
        note("python -I -c 'import numpy'", timed(lambda: subprocess.run(
            [sys.executable, "-I", "-c", "import numpy"], check=True)))
        sb = Sandbox(solution, limits=limits)
        note("sandbox start (bwrap, numpy, gradcheck_edu) and close",
             timed(lambda sb=sb: (sb.start(), sb.close())))
        with Sandbox(solution, limits=limits) as sb:
            sb.start()
            note("hw_layers solution: all cells", timed(sb.run_cells))
            sqrt = sb.get("np").sqrt
            note("one round trip (a remote call returning a number)",
                 timed(lambda sqrt=sqrt: [sqrt(2.0) for _ in range(n_calls)]) / n_calls)
            x = rng.standard_normal((2, 2, 4, 4))
            for where, layer in (("sandbox", sb.get("Conv2d")(2, 3)),
                                 ("local", local["Conv2d"](2, 3))):
                layer.forward(x)
                w = layer.params["w"]

                def calls(layer=layer, w=w, x=x) -> None:
                    for i in range(n_calls):
                        w.flat[i % w.size] += 1e-6
                        layer.forward(x)
                note(f"Conv2d.forward, {where}", timed(calls) / n_calls)
            for name, (ctor, shape) in INPUTS.items():
                xs = rng.standard_normal(shape)
                remote = sb.get(name)
                note(f"grade_layer {name}: sandbox",
                     timed(lambda remote=remote, ctor=ctor, xs=xs: grade_layer(remote(*ctor), xs)))
                note(f"grade_layer {name}: local", timed(
                    lambda name=name, ctor=ctor, xs=xs: grade_layer(local[name](*ctor), xs)))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median of {rounds} rounds (Python {sys.version.split()[0]}, numpy {np.__version__})")
    for key, value in med.items():
        unit = (f"{value * 1e3:8.3f} ms" if value < 1 else f"{value:8.3f} s ")
        print(f"  {key:58s} {unit}")
    start = med["sandbox start (bwrap, numpy, gradcheck_edu) and close"]
    plain = med["python -I -c 'import numpy'"]
    print(f"  sandbox start / plain python+numpy: {start / plain:.2f}")
    total_sb = sum(v for k, v in med.items() if k.startswith("grade_layer") and "sandbox" in k)
    total_local = sum(v for k, v in med.items() if k.startswith("grade_layer") and "local" in k)
    print(f"  grade_layer, all 8 layers: sandbox {total_sb:.3f} s, local {total_local:.3f} s "
          f"({total_sb / total_local:.1f} x)")


if __name__ == "__main__":
    main()
