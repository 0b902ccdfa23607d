"""``gradcheck-edu demo [--figures DIR | --no-figures]``, ``gradcheck-edu figures [--out DIR]``, and
``gradcheck-edu assignments build --out DIR`` / ``assignments grade SUBMISSION... [--json]``
(:mod:`gradcheck_edu.assignments`, with otter-grader).

The examples shared by the demo, the figures and the notebooks live in
:mod:`gradcheck_edu.examples`, so that a figure in ``figures/`` is the one its notebook draws: same
function, same arguments, same seeds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .examples import (
    DEAD_RELU_TITLES,
    FLOAT32_METHODS,
    bug_exercise,
    checklist_report,
    cube,
    dead_relu_model,
    mlp_example,
    mystery_bug,
    smooth_df,
    smooth_f,
    spiral_model,
    taylor_pair,
)
from .version import __version__

__all__ = ["main", "demo", "FIGURES", "DEMO_SECTIONS", "DEMO_FIGURES", "write_figures"]


# --------------------------------------------------------------------------- figures


def fig_secants():
    from .plots import plot_secants

    return plot_secants(cube, 1.0, 0.01, exact=3.0)


def fig_error_order():
    from .plots import plot_error_vs_eps

    return plot_error_vs_eps(smooth_f, 0.7, smooth_df(0.7))


def fig_error_order_float32():
    from .plots import plot_error_vs_eps

    return plot_error_vs_eps(smooth_f, 0.7, smooth_df(0.7), dtype=np.float32,
                             methods=FLOAT32_METHODS)


def fig_taylor():
    from .plots import plot_taylor_pair

    return plot_taylor_pair(*taylor_pair())


def fig_bug_bars():
    """Notebook 03's figure: the sign error in the output layer, located per parameter."""
    from . import bugs
    from .model_check import check_model
    from .plots import plot_gradient_check

    model, X, y = mlp_example()
    return plot_gradient_check(check_model(bugs.inject(model, "sign_error"), X, y))


def fig_bug_heatmap():
    """Notebook 04's first exercise: where W1's gradient is wrong."""
    from .plots import plot_mismatch_heatmap

    _, report, _, _ = mystery_bug(1)  # the notebook draws it too; the bug is not named here
    return plot_mismatch_heatmap(report, "W1")


def fig_lr_finder():
    """Notebook 05's LR range test."""
    from .diagnose import lr_range_test
    from .nn import Adam

    model, X, y = spiral_model()
    return lr_range_test(model, X, y, Adam(1e-3)).plot()


def fig_dead_relus():
    """Notebook 05's healthy network beside the one with dead ReLUs."""
    from .diagnose import activation_stats
    from .plots import plot_activation_comparison

    healthy, X, _ = spiral_model()
    return plot_activation_comparison(activation_stats(healthy, X),
                                      activation_stats(dead_relu_model(), X),
                                      titles=DEAD_RELU_TITLES)


def fig_checklist():
    return checklist_report().plot()


FIGURES: dict[str, Callable] = {
    "theta_cubed_secants": fig_secants,
    "error_order_float64": fig_error_order,
    "error_order_float32": fig_error_order_float32,
    "taylor_test": fig_taylor,
    "bug_per_parameter": fig_bug_bars,
    "bug_heatmap": fig_bug_heatmap,
    "lr_finder": fig_lr_finder,
    "dead_relus": fig_dead_relus,
    "checklist": fig_checklist,
}


def write_figures(out: str | Path = "figures", names: list[str] | None = None) -> list[Path]:
    """Render every registered figure to ``out/NAME.png`` (Agg backend, fixed seeds).

    The PNGs carry no software or date metadata, so the same code writes the same bytes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(FIGURES):
        fig = FIGURES[name]()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return written


def _write_and_say(out: str | Path) -> None:
    start = time.perf_counter()
    paths = write_figures(out)
    folder = Path(out).resolve()
    print(f"wrote {len(paths)} figures to {folder} in {time.perf_counter() - start:.1f} s:")
    print("  " + ", ".join(p.name for p in paths))


# --------------------------------------------------------------------------- demo


def demo_theta_cubed() -> None:
    from .finite_diff import backward_difference, central_difference, forward_difference

    print("f(theta) = theta^3 at theta = 1, exact derivative g = 3")
    print(f"  {'eps':>8}  {'forward':>10}  {'error':>9}  {'backward':>10}  {'error':>9}  "
          f"{'central':>10}  {'error':>9}")
    for eps in (0.1, 0.01, 0.001):
        fw = forward_difference(cube, 1.0, eps=eps)
        bw = backward_difference(cube, 1.0, eps=eps)
        ce = central_difference(cube, 1.0, eps=eps)
        print(f"  {eps:>8g}  {fw:>10.6f}  {fw - 3:>9.2e}  {bw:>10.6f}  {bw - 3:>9.2e}  "
              f"{ce:>10.6f}  {ce - 3:>9.2e}")
    print("  one-sided error shrinks like eps, central like eps^2, for twice the evaluations")


def demo_orders() -> None:
    from .plots import error_table

    print("Fitted error orders, f = exp(t) sin(t) at t = 0.7 (log-log slopes of the truncation "
          "side and of the round-off side):")
    for method, row in error_table(smooth_f, 0.7, smooth_df(0.7)).items():
        order = "-" if row["order"] is None else f"{row['order']:.2f}"
        roundoff = "none" if row["roundoff_slope"] is None else f"{row['roundoff_slope']:.2f}"
        print(f"  {method:<11} slope {order:>5}   round-off side {roundoff:>5}   "
              f"best eps {row['best_eps']:.0e}   best error {row['best_error']:.1e}")


def demo_mlp_check() -> None:
    from .model_check import check_model

    model, X, y = mlp_example()
    print(f"Gradient check of MLP({model.layer_sizes}), tanh, on {len(X)} samples:")
    print(check_model(model, X, y))


DEMO_BUG = "missing_1_over_m"
"""The zoo bug the demo catches: none of notebook 04's mysteries (the demo must not answer them)."""


def demo_bug() -> None:
    from . import bugs

    _, report, _, _ = bug_exercise(DEMO_BUG)
    bug = bugs.find(DEMO_BUG)
    print(f"A bug from the zoo ({DEMO_BUG}), caught and located:")
    print(report)
    failing = [p.name for p in report.per_parameter.values() if not p.verdict.passed]
    right = [p.name for p in report.per_parameter.values() if p.verdict.passed]
    print(f"located: the gradients of {', '.join(failing)} are wrong"
          + (f", those of {', '.join(right)} right" if right else "")
          + f"; the worst components are in {sorted({r.name for r in report.worst(5)})}")
    print(f"the bug: {bug.description}")


def demo_checklist() -> None:
    print("The debugging checklist on the spiral data, MLP([2, 64, 3]), Adam 1e-2:")
    print(checklist_report())


DEMO_SECTIONS: list[Callable[[], None]] = [demo_theta_cubed, demo_orders, demo_mlp_check,
                                           demo_bug, demo_checklist]
DEMO_FIGURES = "gradcheck_edu_figures"


def demo(figures: str | Path | None = DEMO_FIGURES) -> None:
    """Print the tour; then write the figures to ``figures`` (None: don't)."""
    start = time.perf_counter()
    for section in DEMO_SECTIONS:
        section()
        print()
    if figures is not None:
        _write_and_say(figures)
    print(f"demo finished in {time.perf_counter() - start:.1f} s")


def _writable_folder(folder: str | Path, option: str) -> str | None:
    """None if ``folder`` can be made and written to; else what is wrong, naming the option.

    Checked before the demo runs, so a bad folder is reported at once, not after a minute of
    output ending in a traceback.
    """
    path = Path(folder)
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                return (f"{option} {folder}: {parent} is a file, not a folder; choose another "
                        "folder")
            if not os.access(parent, os.W_OK):
                return f"{option} {folder}: cannot write in {parent}; choose another folder"
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gradcheck-edu",
        description="gradcheck_edu, gradient checking for a course on neural networks. Commands: "
                    "demo (the tour, and the default), figures (regenerate the course's PNGs), "
                    "assignments build (the student versions to hand out, and the autograder), "
                    "assignments grade (submissions, per question, each in a sandbox) and "
                    "assignments report (what the class got wrong).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")
    d = sub.add_parser("demo", help="print the tour and write the figures (the default)")
    where = d.add_mutually_exclusive_group()
    where.add_argument("--figures", metavar="DIR", default=DEMO_FIGURES,
                       help=f"folder for the figures (default: ./{DEMO_FIGURES}/)")
    where.add_argument("--no-figures", action="store_true", help="print the tour only")
    f = sub.add_parser("figures", help="regenerate every figure as PNG")
    f.add_argument("--out", default="figures",
                   help="folder (default: ./figures/, the course's folder when run from the "
                        "repository root)")
    a = sub.add_parser("assignments", help="build the student versions (otter-grader, from the "
                       "[course] extra) and grade submissions, each in a sandbox")
    act = a.add_subparsers(dest="action", required=True)
    b = act.add_parser("build", help="DIR/student/*.ipynb to hand out, DIR/autograder/* to grade")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--sources", nargs="+", metavar="NOTEBOOK",
                   help="assignment sources (default: notebooks/ and assignments/ of the repo)")
    g = act.add_parser("grade", help="points per question and the total")
    g.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help="student notebooks, or folders of them")
    g.add_argument("--autograder", metavar="DIR",
                   help="the folder 'assignments build' wrote (default: build afresh)")
    g.add_argument("--json", action="store_true", help="JSON: one object per submission and "
                   "line, as each one finishes: {submission, total, max, questions, protections}")
    g.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="submissions graded at a time (default: the number of cores)")
    g.add_argument("--csv", metavar="FILE", help="also write the gradebook, one row a submission")
    g.add_argument("--student-id", metavar="ID", help="the student id the inputs are drawn "
                   "for (default: each file's name without .ipynb)")
    g.add_argument("--cell-timeout", type=float, default=30.0, metavar="S",
                   help="seconds a notebook cell may run (default 30)")
    g.add_argument("--call-timeout", type=float, default=10.0, metavar="S",
                   help="seconds one call of a student function may run (default 10)")
    g.add_argument("--timeout", type=float, default=90.0, metavar="S",
                   help="seconds of student code per submission (default 90)")
    g.add_argument("--memory-mb", type=int, default=2048, metavar="MB",
                   help="memory a submission may use (default 2048)")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run student code without bubblewrap (only where it cannot be "
                        "installed; every result names the protections that were off)")
    r = act.add_parser("report", help="what the class got wrong: DIR/index.html, DIR/summary.json")
    r.add_argument("grades", metavar="GRADES.jsonl", help="the lines 'grade --json' printed")
    r.add_argument("--out", required=True, metavar="DIR")
    r.add_argument("--assignment", help="keep the lines of this assignment")
    args = parser.parse_args(argv)
    folder = {"figures": ("--out", getattr(args, "out", None)),
              "demo": ("--figures", None if getattr(args, "no_figures", False)
                       else getattr(args, "figures", None)),
              "assignments": ("--out", getattr(args, "out", None))}.get(args.command)
    if folder and folder[1] is not None:
        problem = _writable_folder(folder[1], folder[0])
        if problem:
            parser.error(problem)
    if args.command == "assignments":
        from .assignments import command

        return command(args)
    if args.command == "figures":
        _write_and_say(args.out)
    elif args.command == "demo":
        demo(None if args.no_figures else args.figures)
    else:
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
