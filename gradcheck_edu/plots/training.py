"""Figures of training: activations, learning curves, the LR range test, the checklist, runs,
and the samples a model sees."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..verdicts import Verdict
from .style import VERDICT_COLORS, new_axes

__all__ = ["plot_activation_comparison", "plot_curve_comparison", "plot_lr_finder",
           "plot_activation_histograms", "plot_training_curves", "plot_checklist", "plot_runs",
           "plot_samples"]


def plot_activation_comparison(left: list, right: list,
                               titles: tuple[str, str] = ("healthy", "unhealthy"), bins: int = 40):
    """Two networks' activations side by side: one column per network, two rows per layer.

    Parameters
    ----------
    left, right : list of dict
        ``diagnose.activation_stats(model, X)`` of each network (the same layers).
    titles : (str, str)
        Column titles.

    The upper row of a layer is the histogram of its activation values (shared bins, counts on
    a log scale so the tail shows next to the spike at 0). The lower row shows each unit: the
    fraction of the samples on which it is active (ReLU: output > 0), or saturated
    (tanh, sigmoid), sorted; a ReLU unit active on no sample is dead, drawn in red.
    """
    import matplotlib.pyplot as plt

    from ..diagnose.saturation import RELU_KINDS, saturated

    if len(left) != len(right):
        raise ValueError(f"the two networks have {len(left)} and {len(right)} activation "
                         "layers; compare networks of the same architecture")
    n = max(len(left), 1)
    fig, axes = plt.subplots(2 * n, 2, figsize=(10, 5.2 * n), layout="constrained",
                             squeeze=False, height_ratios=[3, 2] * n)
    for k, pair in enumerate(zip(left, right)):
        values = [np.ravel(s["values"]) for s in pair]
        edges = np.histogram_bin_edges(np.concatenate(values), bins=bins)
        for col, (s, v, title) in enumerate(zip(pair, values, titles)):
            relu = s["kind"] in RELU_KINDS
            ax, bx = axes[2 * k, col], axes[2 * k + 1, col]
            ax.hist(v, bins=edges, color="tab:blue")
            ax.set_yscale("log")
            if s.get("dead") is None:
                health = "dead/saturated not judged"
            elif relu:
                health = f"dead {s['dead']:.0%} of units"
            else:
                health = f"saturated {s['saturated']:.0%} of values"
            ax.set_title(f"{title}\nlayer {s['layer']} {s['kind']}: {health}", fontsize=10)
            ax.set_xlabel("activation value")
            ax.set_ylabel("count (log scale)")
            a = np.asarray(s["values"])
            sat = saturated(s["kind"], a)
            if relu:
                per_unit = np.mean(a > 0, axis=0)
                what = "active (> 0)"
            elif sat is not None:
                per_unit = np.mean(sat, axis=0)
                what = "saturated"
            else:  # a nonlinearity we cannot judge: no per-unit panel
                bx.axis("off")
                continue
            per_unit = np.sort(per_unit)
            bx.bar(np.arange(per_unit.size), per_unit, width=1.0, color="tab:blue")
            n_dead = int(np.sum(per_unit == 0)) if relu else 0
            if n_dead:  # sorted: the dead units come first
                bx.axvspan(-0.5, n_dead - 0.5, color=VERDICT_COLORS[Verdict.WRONG], alpha=0.25)
                bx.text(0.01, 0.95, f"shaded: {n_dead} of {per_unit.size} units active on no "
                        "sample (dead)", transform=bx.transAxes, va="top", fontsize=8,
                        color=VERDICT_COLORS[Verdict.WRONG])
            bx.set_ylim(0, 1)
            bx.set_xlim(-0.5, per_unit.size - 0.5)
            bx.set_xlabel("unit (sorted)")
            bx.set_ylabel(f"fraction of samples\n{what}")
    return fig


def plot_curve_comparison(histories: list, titles: list[str], chance_loss: float | None = None):
    """Learning curves of several runs side by side, one panel each (``plot_training_curves``),
    with the y axes shared so the losses compare at a glance, and the loss at chance as a
    dotted line when ``chance_loss`` is given."""
    import matplotlib.pyplot as plt

    if len(histories) != len(titles):
        raise ValueError(f"{len(histories)} histories but {len(titles)} titles: give one title "
                         "per history")
    fig, axes = plt.subplots(1, len(histories), figsize=(5.2 * len(histories), 4),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, history, title in zip(axes[0], histories, titles):
        plot_training_curves(history, ax=ax)
        if chance_loss is not None:
            ax.axhline(chance_loss, color="gray", ls=":", lw=1.5,
                       label=f"loss at chance {chance_loss:.3g}")
            ax.legend(fontsize=9)
        ax.set_title(title)
    return fig


def plot_lr_finder(result: Any, ax=None):
    """LR range test: smoothed loss against the learning rate, with the suggestion marked."""
    fig, ax = new_axes(ax)
    ax.semilogx(result.lrs, result.raw_losses, color="lightgray", lw=1, label="loss per step")
    ax.semilogx(result.lrs, result.losses, color="tab:blue", lw=2, label="smoothed")
    ax.axvline(result.suggestion, color="tab:green", ls="--",
               label=f"suggestion {result.suggestion:.2g}")
    if result.diverged_at is not None:
        ax.axvline(result.diverged_at, color="tab:red", ls=":",
                   label=f"diverged at {result.diverged_at:.2g}")
    top = np.nanmax(result.losses) if len(result.losses) else 1.0
    ax.set_ylim(0, 1.2 * top)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("LR range test")
    ax.legend(fontsize=9)
    return fig


def plot_activation_histograms(stats: list, title: str = "", axes=None):
    """One histogram per activation layer, with its dead/saturated fractions."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, max(len(stats), 1), figsize=(3.6 * max(len(stats), 1), 3.2),
                                 layout="constrained", squeeze=False)
        axes = axes[0]
    else:
        fig = axes[0].figure
    for ax, s in zip(axes, stats):
        _activation_histogram(s, ax)
    if title:
        fig.suptitle(title)
    return fig


def _activation_histogram(s: dict, ax) -> None:
    """One layer's activation values, titled with its dead/saturated fractions (when its
    nonlinearity is known)."""
    ax.hist(np.ravel(s["values"]), bins=40, color="tab:blue")
    health = ("dead/saturated not judged" if s["dead"] is None else
              f"dead {s['dead']:.0%}, saturated {s['saturated']:.0%}")
    ax.set_title(f"layer {s['layer']} {s['kind']}\n{health}", fontsize=9)
    ax.set_xlabel("activation")
    ax.set_ylabel("count")


def plot_training_curves(history: Any, ax=None):
    """Training and validation loss per epoch."""
    fig, ax = new_axes(ax)
    epochs = np.arange(1, len(history.train_loss) + 1)
    ax.plot(epochs, history.train_loss, label="training loss", color="tab:blue")
    if history.val_loss:
        ax.plot(epochs[:len(history.val_loss)], history.val_loss, label="validation loss",
                color="tab:orange")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("Learning curves")
    ax.legend()
    return fig


def plot_checklist(report: Any):
    """The checklist's figures: samples of the data when they are images, learning curves,
    LR range test, activation histograms."""
    import matplotlib.pyplot as plt

    extras = report.extras
    panels = []  # one drawing function per panel that has data
    history, finder = extras.get("history"), extras.get("lr_finder")
    samples = extras.get("samples")
    if samples is not None:
        panels.append(lambda ax: plot_samples(samples["X"], samples["y"], samples["shape"],
                                              ax=ax))
    if history is not None and len(history.train_loss):
        panels.append(lambda ax: plot_training_curves(history, ax=ax))
    if finder is not None and len(finder.lrs):
        panels.append(lambda ax: plot_lr_finder(finder, ax=ax))
    for s in extras.get("activations", []):
        panels.append(lambda ax, s=s: _activation_histogram(s, ax))
    if len(panels) == (samples is not None):  # nothing from training: say why
        fig, axes = plt.subplots(1, len(panels) + 1, figsize=(6 + 4.7 * len(panels), 3.8
                                 if panels else 1.5), layout="constrained", squeeze=False)
        for ax, draw in zip(axes[0], panels):
            draw(ax)
        ax = axes[0, -1]
        ax.axis("off")
        first = next((i.name for i in report.items if i.passed is False), None)
        ax.text(0.5, 0.5, "nothing to plot from training:\nthe checklist stopped before it"
                + (f" ({first} failed)" if first else ""), ha="center", va="center")
        return fig
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.7 * cols, 3.8 * rows),
                             layout="constrained", squeeze=False)
    for ax, draw in zip(axes.ravel(), panels):
        draw(ax)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    return fig


def plot_runs(runs: Any, metric: str = "val_loss", label: Any = None, ax=None):
    """One curve per run of a :class:`~gradcheck_edu.diagnose.RunLog` file: ``metric`` per epoch.

    Parameters
    ----------
    runs : list of dict or path-like
        From :func:`~gradcheck_edu.diagnose.load_runs`, or the log file itself.
    metric : str
        A per-epoch metric the runs logged (``"train_loss"``, ``"val_loss"``, ...).
    label : callable, optional
        ``label(run) -> str`` for the legend; default: the run's name, else its
        hyperparameters.
    """
    from ..diagnose.runlog import load_runs

    if not isinstance(runs, (list, tuple)):
        runs = load_runs(runs)
    fig, ax = new_axes(ax)

    def default_label(run):
        params = ", ".join(f"{k}={v}" for k, v in run.get("hyperparams", {}).items())
        return run.get("name") or params or "run"

    label = label or default_label
    drawn = 0
    for run in runs:
        values = []
        for m in run.get("metrics", []):
            try:
                values.append(float(m[metric]))  # "nan" as logged by RunLog reads back as NaN
            except (KeyError, TypeError, ValueError):
                values.append(np.nan)
        if np.isfinite(values).any():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=label(run))
            drawn += 1
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} of {drawn} run{'s' if drawn != 1 else ''}")
    if drawn:
        ax.legend(fontsize=8)
    return fig


def _mosaic(X: np.ndarray, shape: tuple[int, int], cols: int) -> np.ndarray:
    """The rows of X as images of ``shape``, tiled ``cols`` per row with a 1-pixel gap (NaN)."""
    h, w = shape
    rows = -(-len(X) // cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k, row in enumerate(X):
        i, j = divmod(k, cols)
        out[i * (h + 1):i * (h + 1) + h, j * (w + 1):j * (w + 1) + w] = row.reshape(h, w)
    return out


def plot_samples(X: Any, y: Any = None, shape: tuple[int, int] = (8, 8), n: int = 32,
                 cols: int = 8, ax=None):
    """The first ``n`` samples as images with their labels: look at what the model sees.

    Parameters
    ----------
    X : array_like, shape (N, height * width)
        One image per row (row-major), as the model gets it.
    y : array_like, shape (N,), optional
        The label of each row, written above its image.
    shape : (int, int)
        (height, width) of an image.
    n, cols : int
        How many images, and how many per row.
    ax : matplotlib Axes, optional
        Draw all images as one tiled picture in ``ax`` (labels at the tiles' corners);
        otherwise a new figure with one small panel per image.

    Every image is drawn on one grey scale from the smallest to the largest value among
    them, so unscaled pixels (0-16, 0-255) and scaled ones look alike: the axis title gives
    the range, which is what differs.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"X has shape {X.shape}; plot_samples needs one image of {shape} "
                         f"({shape[0] * shape[1]} values) per row: pass shape=(height, width)")
    X = X[:n]
    labels = None if y is None else np.asarray(y)[:len(X)]
    finite = X[np.isfinite(X)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    title = f"{len(X)} samples, pixels {lo:g} to {hi:g}" + (" (label above each)"
                                                          if labels is not None else "")
    cols = max(1, min(cols, len(X)))
    if ax is not None:
        h, w = shape
        ax.imshow(_mosaic(X, shape, cols), cmap="gray_r", vmin=lo, vmax=hi)
        if labels is not None:
            for k, label in enumerate(labels):
                i, j = divmod(k, cols)
                ax.text(j * (w + 1), i * (h + 1), str(label), color="tab:red", fontsize=7,
                        va="top", ha="left")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
        return ax.figure
    import matplotlib.pyplot as plt

    rows = -(-len(X) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.25 * rows + 0.4),
                             layout="constrained", squeeze=False)
    for k, a in enumerate(axes.ravel()):
        a.set_xticks([])
        a.set_yticks([])
        if k >= len(X):
            a.axis("off")
            continue
        a.imshow(X[k].reshape(shape), cmap="gray_r", vmin=lo, vmax=hi)
        if labels is not None:
            a.set_title(str(labels[k]), fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig
