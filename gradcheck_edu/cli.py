"""``gradcheck-edu demo`` and ``gradcheck-edu figures [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["main", "FIGURES", "DEMO_SECTIONS", "write_figures"]


# --------------------------------------------------------------------------- shared examples


def cube(t):
    return t**3


def smooth_f(t):
    """exp(t) sin(t): every method's truncation order is visible (a cubic hides Richardson's)."""
    return np.exp(t) * np.sin(t)


def smooth_df(t):
    return np.exp(t) * (np.sin(t) + np.cos(t))


def spiral_model(seed: int = 0, **kwargs):
    from .datasets import spiral
    from .nn import MLP

    X, y = spiral(100, 3, seed=seed)
    return MLP([2, 64, 3], seed=seed, **kwargs), X, y


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
                             methods=("forward", "central", "richardson"))


def taylor_pair():
    from .check import taylor_test

    w = np.array([0.3, -0.8, 1.1])

    def f(v):
        return float(np.sum(np.sin(v) * v**2))

    def grad(v):
        return np.cos(v) * v**2 + 2 * v * np.sin(v)

    right = taylor_test(f, grad, w, seed=0)
    wrong = taylor_test(f, lambda v: grad(v) + 0.01 * np.cos(v), w, seed=0)
    return right, wrong


def fig_taylor():
    from .plots import plot_taylor_pair

    return plot_taylor_pair(*taylor_pair())


def bug_report(name: str = "bias_grad_wrong_axis", seed: int = 0):
    from . import bugs
    from .check import check_model

    model = bugs.make_model(name, seed=seed, layer_sizes=[4, 8, 8, 3])
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    return check_model(bugs.inject(model, name), X, y)


def fig_bug_bars():
    from .plots import plot_gradient_check

    return plot_gradient_check(bug_report("wrong_transpose"))


def fig_bug_heatmap():
    from .plots import plot_mismatch_heatmap

    return plot_mismatch_heatmap(bug_report("wrong_transpose"), "W1")


def fig_lr_finder():
    from .diagnose import lr_range_test
    from .nn import SGD

    model, X, y = spiral_model()
    return lr_range_test(model, X, y, SGD(0.1), lr_max=100).plot()


def fig_dead_relus():
    import matplotlib.pyplot as plt

    from .diagnose import activation_stats
    from .plots import plot_activation_histograms

    healthy, X, _ = spiral_model()
    dead, _, _ = spiral_model()
    dead.params["b1"][:] = -20.0 + 20.0 * (np.arange(64) % 4 == 0)  # 3 of 4 units dead
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    plot_activation_histograms(activation_stats(healthy, X), axes=[axes[0]])
    plot_activation_histograms(activation_stats(dead, X), axes=[axes[1]])
    axes[0].set_title("healthy (He init, b = 0)\n" + axes[0].get_title().split("\n")[1])
    axes[1].set_title("biases at -20 for 3 of 4 units\n" + axes[1].get_title().split("\n")[1])
    return fig


def checklist_report():
    from .datasets import spiral
    from .diagnose import checklist
    from .nn import MLP, Adam

    X, y = spiral(100, 3, seed=0)
    Xv, yv = spiral(50, 3, seed=1)
    return checklist(lambda: MLP([2, 64, 3], seed=0), X, y, Xv, yv,
                     make_optimizer=lambda: Adam(1e-2))


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
    """Render every registered figure to ``out/NAME.png`` (Agg backend, fixed seeds)."""
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

    print("Fitted error orders, f = exp(t) sin(t) at t = 0.7 (log-log slope, truncation side):")
    for method, row in error_table(smooth_f, 0.7, smooth_df(0.7)).items():
        order = "-" if row["order"] is None else f"{row['order']:.2f}"
        print(f"  {method:<11} slope {order:>5}   best eps {row['best_eps']:.0e}   "
              f"best error {row['best_error']:.1e}")


def demo_mlp_check() -> None:
    from .check import check_model
    from .nn import MLP

    rng = np.random.default_rng(0)
    model = MLP([4, 16, 3], activation="tanh", l2=1e-3, seed=0)
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 3, 32)
    print("Gradient check of MLP([4, 16, 3]), tanh, L2 1e-3, on 32 samples:")
    print(check_model(model, X, y))


def demo_bug() -> None:
    print("A bug from the zoo (bias gradient summed over every axis), caught and located:")
    report = bug_report("bias_grad_wrong_axis")
    print(report)


def demo_checklist() -> None:
    print("The debugging checklist on the spiral data, MLP([2, 64, 3]), Adam 1e-2:")
    print(checklist_report())


DEMO_SECTIONS: list[Callable[[], None]] = [demo_theta_cubed, demo_orders, demo_mlp_check,
                                           demo_bug, demo_checklist]


def demo(figures: str | None = None) -> None:
    start = time.perf_counter()
    for section in DEMO_SECTIONS:
        section()
        print()
    if figures:
        for path in write_figures(figures):
            print(f"wrote {path}")
    print(f"demo finished in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck-edu", description="gradcheck_edu: the "
                                     "demo and the course figures")
    sub = parser.add_subparsers(dest="command")
    d = sub.add_parser("demo", help="print the tour (default)")
    d.add_argument("--figures", metavar="DIR", help="also write the figures to DIR")
    f = sub.add_parser("figures", help="regenerate every figure as PNG")
    f.add_argument("--out", default="figures", help="folder (default: figures/)")
    args = parser.parse_args(argv)
    if args.command == "figures":
        for path in write_figures(args.out):
            print(f"wrote {path}")
    else:
        demo(getattr(args, "figures", None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
