"""Per-submission cost of grading hw_layers: ``otter run`` (the old way) next to the isolated
grader (each submission in its own bubblewrap sandbox, the tests in the grading process), in
one run, on the same submissions.

The submissions: ``--n`` copies of the homework, half answered right, half untouched. The old
way grades them one after another with ``otter.api.grade_submission`` (a fresh kernel each, as
``otter run``); the new way with ``gradcheck-edu assignments grade FOLDER --jobs J``, once with
one job (the cost of one submission alone) and once with ``--jobs`` (a class at a time). The
times are wall-clock, per submission; the ratio is new / old.

    python benchmarks/bench_grading.py [--n 8] [--jobs 2] [--rounds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from otter_sources import as_answer, fill, solution_cells  # noqa: E402

from gradcheck_edu import assignments  # noqa: E402

HW = ROOT / "assignments" / "hw_layers.ipynb"


def make_class(built: dict, folder: Path, n: int) -> list[Path]:
    answers = [as_answer(s) for s in solution_cells(HW)]
    subs = []
    for i in range(n):
        path = folder / f"student{i:02d}.ipynb"
        if i % 2 == 0:
            fill(built["student"], answers, path)
        else:
            shutil.copyfile(built["student"], path)
        subs.append(path)
    return subs


def otter_run(subs: list[Path], zip_path: Path) -> tuple[float, list[float]]:
    """Seconds for all, and the scores, one after another with otter's own grader."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from otter.api import grade_submission
    scores = []
    start = time.perf_counter()
    for sub in subs:
        saved = os.dup(1), os.dup(2)
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            try:
                result = grade_submission(str(sub), str(zip_path), quiet=True)
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        scores.append(float(result.total))
    return time.perf_counter() - start, scores


def isolated(folder: Path, out: Path, jobs: int) -> tuple[float, list[float]]:
    """Seconds for all, and the scores, with one CLI call (the way staff grade a class)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gradcheck_edu", "assignments", "grade",
                           str(folder), "--autograder", str(out), "--json", "--jobs", str(jobs)],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    results = sorted((json.loads(line) for line in proc.stdout.splitlines()),
                     key=lambda r: r["submission"])
    return seconds, [r["total"] for r in results]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=8, help="submissions (default 8)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="parallel submissions of the new grader (default: the cores)")
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "course"
        built = assignments.build(out, [HW])["hw_layers"]
        folder = Path(tmp) / "class"
        folder.mkdir()
        subs = make_class(built, folder, args.n)
        times: dict[str, list[float]] = {"otter run": [], "isolated, 1 job": [],
                                         f"isolated, {args.jobs} jobs": []}
        scores: dict[str, list[float]] = {}
        for _ in range(args.rounds):  # interleaved: each way sees the same machine load
            seconds, scores["otter run"] = otter_run(subs, built["autograder"])
            times["otter run"].append(seconds / len(subs))
            for jobs, name in ((1, "isolated, 1 job"), (args.jobs, f"isolated, {args.jobs} jobs")):
                seconds, scores[name] = isolated(folder, out, jobs)
                times[name].append(seconds / len(subs))
    base = statistics.median(times["otter run"])
    print(f"hw_layers, {args.n} submissions (half right, half untouched), {args.rounds} "
          f"round(s), {os.cpu_count()} cores; wall-clock seconds per submission (median):")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"  {name:<20} {t:6.2f} s   x{t / base:.2f} of otter run   "
              f"scores {sorted(set(scores[name]))}")


if __name__ == "__main__":
    main()
