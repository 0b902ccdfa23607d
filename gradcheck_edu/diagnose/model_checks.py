"""Checks that look at a model: loss at chance, overfitting a tiny set, gradients, activations,
the learning rate, and whether the labels match the inputs.

The model is any object with ``params``, ``loss(X, y)`` and ``loss_and_grads(X, y)``; activation
checks also need ``forward(X, training=False, return_activations=True)`` and ``layers``.
Training checks take a ``make_model()`` that returns a fresh model and an optimizer with
``step(params, grads)`` and an ``lr`` attribute. None of them modifies the caller's model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..check import check_model
from .data import expected_initial_loss, label_entropy
from .result import CheckResult

__all__ = [
    "check_initial_loss",
    "overfit_tiny",
    "check_labels",
    "check_gradients",
    "activation_stats",
    "check_activations",
    "lr_range_test",
    "LRFinderResult",
    "fit",
]


def _loss_name(model: Any) -> str:
    return getattr(model, "loss_name", "softmax_cross_entropy")


def _n_outputs(model: Any) -> int | None:
    sizes = getattr(model, "layer_sizes", None)
    return int(sizes[-1]) if sizes is not None else None


def _default_optimizer():
    from ..nn.optim import Adam

    return Adam(1e-3)


def fit(model: Any, X: np.ndarray, y: np.ndarray, optimizer: Any, steps: int,
        batch_size: int | None = None, seed: int = 0) -> list[float]:
    """Train ``model`` in place for ``steps`` optimizer steps; the loss of each step.

    Mini-batches of ``batch_size`` (None: the whole set) drawn in shuffled epochs. Stops early
    when the loss becomes NaN or Inf.
    """
    rng = np.random.default_rng(seed)
    n = len(X)
    bs = n if batch_size is None else min(batch_size, n)
    losses: list[float] = []
    order = rng.permutation(n)
    pos = 0
    for _ in range(steps):
        if pos + bs > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + bs]
        pos += bs
        with np.errstate(all="ignore"):
            loss, grads = model.loss_and_grads(X[idx], y[idx])
        losses.append(float(loss))
        if not np.isfinite(loss):
            break
        with np.errstate(all="ignore"):
            optimizer.step(model.params, grads)
    return losses


def _data_loss(model: Any, X: Any, y: Any) -> float:
    if hasattr(model, "loss_parts"):
        return float(model.loss_parts(X, y)[0])
    return float(model.loss(X, y))


def _subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n indices, with every class represented when labels are classes."""
    if n >= len(y):
        return np.arange(len(y))
    return np.sort(rng.choice(len(y), size=n, replace=False))


def check_initial_loss(model: Any, X: Any, y: Any, tolerance: float = 0.5) -> CheckResult:
    """Compare the untrained model's data loss with the loss at chance.

    A freshly initialized classifier should predict roughly uniformly, so its loss should be
    close to ``-ln(1/C)``. Far above chance means too-large initial weights or unnormalized
    inputs (the logits are huge and confidently wrong).

    Parameters
    ----------
    tolerance : float
        Fail when the loss exceeds ``(1 + tolerance)`` times the loss at chance.
    """
    y = np.asarray(y)
    name = _loss_name(model)
    chance = expected_initial_loss(y, name, n_classes=_n_outputs(model)
                                   if name == "softmax_cross_entropy" else None)
    loss = _data_loss(model, X, y)
    numbers = {"initial_loss": loss, "chance_loss": chance}
    if name == "softmax_cross_entropy":
        numbers["label_entropy"] = label_entropy(y, _n_outputs(model))
    if not np.isfinite(loss) or loss > (1 + tolerance) * chance:
        return CheckResult("initial_loss", False,
                           f"the initial loss {loss:.3g} is far above the loss at chance "
                           f"{chance:.3g}", "scale the initial weights down (He/Xavier init) "
                           "and normalize the inputs", numbers)
    return CheckResult("initial_loss", True,
                       f"the initial loss {loss:.3g} is close to the loss at chance "
                       f"{chance:.3g}", "", numbers)


def overfit_tiny(make_model: Callable[[], Any], X: Any, y: Any,
                 make_optimizer: Callable[[], Any] | None = None, n_samples: int = 20,
                 batch_size: int = 32, steps: int = 2000, target: float = 0.05,
                 seed: int = 0) -> CheckResult:
    """Overfit a tiny dataset, and a single batch: the loss should fall to about 0.

    A correct model with enough capacity memorizes a handful of samples. If it cannot, there
    is a bug (check the gradients) or too little capacity. Training stops as soon as the loss
    is below ``target``, after at most ``steps`` steps.
    """
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or _default_optimizer
    rng = np.random.default_rng(seed)
    results = {}
    for label, n in (("tiny set", n_samples), ("single batch", batch_size)):
        idx = _subset(y, n, rng)
        model, opt = make_model(), make_optimizer()
        losses: list[float] = []
        while len(losses) < steps and (not losses or target < losses[-1] < np.inf):
            losses += fit(model, X[idx], y[idx], opt, min(100, steps - len(losses)), seed=seed)
        final = _data_loss(model, X[idx], y[idx]) if np.isfinite(losses[-1]) else np.inf
        results[label] = (len(idx), losses[0], final)
    numbers = {f"{k.replace(' ', '_')}_final_loss": v[2] for k, v in results.items()}
    numbers.update({f"{k.replace(' ', '_')}_initial_loss": v[1] for k, v in results.items()})
    text = ", ".join(f"{k} ({n} samples) {a:.3g} -> {b:.3g}" for k, (n, a, b) in results.items())
    if all(final <= target for _, _, final in results.values()):
        return CheckResult("overfit", True, f"the loss falls to ~0: {text}", "", numbers)
    return CheckResult("overfit", False, f"the loss does not fall to ~0: {text}",
                       "check the gradients (gradient check); if they are right, the model "
                       "lacks capacity or the learning rate is off", numbers)


def check_labels(make_model: Callable[[], Any], X: Any, y: Any,
                 make_optimizer: Callable[[], Any] | None = None, n_samples: int = 300,
                 steps: int = 200, margin: float = 0.15, seed: int = 0) -> CheckResult:
    """Do the labels match the inputs? A short fit on the labels versus on shuffled labels.

    If the labels are learned no better than a random permutation of them, the inputs carry no
    information about the labels: the pipeline is misaligned (shuffled one and not the other,
    an off-by-one join, the wrong label column).
    """
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or _default_optimizer
    rng = np.random.default_rng(seed)
    idx = _subset(y, n_samples, rng)
    Xs, ys = X[idx], y[idx]
    shuffled = ys[rng.permutation(len(ys))]
    scores = {}
    for label, target in (("labels", ys), ("shuffled", shuffled)):
        model = make_model()
        fit(model, Xs, target, make_optimizer(), steps, batch_size=64, seed=seed)
        if hasattr(model, "accuracy") and _loss_name(model) != "mse":
            scores[label] = model.accuracy(Xs, target)
        else:
            scores[label] = -_data_loss(model, Xs, target)
    numbers = {"score_labels": scores["labels"], "score_shuffled": scores["shuffled"]}
    what = "training accuracy" if _loss_name(make_model()) != "mse" else "-loss"
    msg = (f"{what} after {steps} steps: {scores['labels']:.3g} on the labels, "
           f"{scores['shuffled']:.3g} on shuffled labels")
    if scores["labels"] - scores["shuffled"] < margin:
        return CheckResult("labels", False, f"the labels are learned no better than shuffled "
                           f"ones ({msg})", "check that X and y are aligned: the same "
                           "shuffling, the same order, the right label column", numbers)
    return CheckResult("labels", True, msg, "", numbers)


def check_gradients(model: Any, X: Any, y: Any, n_samples: int = 16,
                    optimizer: Any = None, seed: int = 0,
                    flag_vanishing: bool = True) -> CheckResult:
    """Gradient check on a few samples, per-layer gradient norms and update/weight ratios.

    The update/weight ratio ``||delta W|| / ||W||`` of one optimizer step (on a copy of the
    model) is about 1e-3 in healthy SGD training; far below means the learning rate is too
    low, far above too high (Adam's first steps run higher, about lr / |w|).
    ``flag_vanishing=False`` reports vanishing gradients without failing (the checklist does
    so when dead activations already explain them).
    """
    X, y = np.asarray(X), np.asarray(y)
    rng = np.random.default_rng(seed)
    idx = _subset(y, n_samples, rng)
    report = check_model(model, X[idx], y[idx])
    _, grads = model.loss_and_grads(X, y)
    norms = {k: float(np.linalg.norm(g)) for k, g in grads.items()}
    trial = copy.deepcopy(model)
    opt = optimizer if optimizer is not None else _default_optimizer()
    opt = copy.deepcopy(opt)
    before = {k: v.copy() for k, v in trial.params.items()}
    _, trial_grads = trial.loss_and_grads(X, y)
    opt.step(trial.params, trial_grads)
    ratios = {k: float(np.linalg.norm(trial.params[k] - before[k])
                       / max(np.linalg.norm(before[k]), 1e-300))
              for k in before if k.startswith("W")}
    numbers = {"relative_error": report.relative_error, "verdict": report.verdict.name,
               "grad_norms": norms, "update_ratios": ratios, "report": report}
    weight_norms = [norms[k] for k in norms if k.startswith("W")]
    ratio_txt = ", ".join(f"{k} {r:.1e}" for k, r in ratios.items())
    vanishing = [k for k in norms if k.startswith("W") and norms[k] < 1e-8]
    if vanishing and not flag_vanishing:
        ratio_txt += f"; gradients vanish in {vanishing} (see activations)"
        vanishing = []
    exploding = [k for k in norms if k.startswith("W") and norms[k] > 1e4]
    if not report.passed:
        worst = report.worst(1)[0]
        return CheckResult("gradients", False,
                           f"gradient check {report.verdict.name} (relative error "
                           f"{report.relative_error:.1e}); worst: {worst.name}{worst.index}",
                           "fix the backward pass of the layer that computes "
                           f"{worst.name}; see the report in numbers['report']", numbers)
    if vanishing or exploding:
        return CheckResult("gradients", False,
                           f"gradients {'vanish' if vanishing else 'explode'} in "
                           f"{vanishing or exploding} (norms {weight_norms})",
                           "use He/Xavier initialization, batch norm, or a non-saturating "
                           "activation; clip gradients if they explode", numbers)
    return CheckResult("gradients", True,
                       f"gradient check {report.verdict.name} (relative error "
                       f"{report.relative_error:.1e}); update/weight ratios {ratio_txt}", "",
                       numbers)


def activation_stats(model: Any, X: Any) -> list[dict[str, Any]]:
    """Per activation layer: mean, std, dead fraction (ReLU units zero on the whole batch),
    saturated fraction (tanh beyond +-0.99, sigmoid beyond 0.01 / 0.99), and the values."""
    _, acts = model.forward(X, training=False, return_activations=True)
    stats = []
    for i, (layer, a) in enumerate(zip(model.layers, acts)):
        kind = type(layer).__name__.lower()
        if kind not in ("relu", "leakyrelu", "tanh", "sigmoid"):
            continue
        a = np.asarray(a, dtype=np.float64)
        entry = {"layer": i, "kind": kind, "mean": float(a.mean()), "std": float(a.std()),
                 "dead": 0.0, "saturated": 0.0, "values": a}
        if kind in ("relu", "leakyrelu"):
            entry["dead"] = float(np.mean(np.all(a <= 0, axis=0)))
        elif kind == "tanh":
            entry["saturated"] = float(np.mean(np.abs(a) > 0.99))
        else:
            entry["saturated"] = float(np.mean((a < 0.01) | (a > 0.99)))
        stats.append(entry)
    return stats


def check_activations(model: Any, X: Any, max_dead: float = 0.5, max_saturated: float = 0.5,
                      min_std: float = 1e-3) -> CheckResult:
    """Healthy activations: few dead ReLU units, few saturated tanh/sigmoid, no vanishing scale.

    Dead ReLUs pass no gradient (often from large negative biases or a too-high learning rate);
    saturated tanh/sigmoid units have near-zero derivative (weights too large); a vanishing
    scale shrinks the signal layer after layer (weights too small).
    """
    if not callable(getattr(model, "forward", None)) or not hasattr(model, "layers"):
        return CheckResult("activations", None, "the model has no forward(..., "
                           "return_activations=True) and layers to inspect")
    stats = activation_stats(model, X)
    numbers = {"layers": stats}
    problems = []
    for s in stats:
        where = f"layer {s['layer']} ({s['kind']})"
        if s["dead"] > max_dead:
            problems.append(f"{s['dead']:.0%} dead units in {where}")
        if s["saturated"] > max_saturated:
            problems.append(f"{s['saturated']:.0%} saturated activations in {where}")
        if s["std"] < min_std and s["dead"] <= max_dead:
            problems.append(f"vanishing activations (std {s['std']:.1e}) in {where}")
    summary = "; ".join(f"layer {s['layer']} {s['kind']}: std {s['std']:.2g}, dead "
                        f"{s['dead']:.0%}, saturated {s['saturated']:.0%}" for s in stats)
    if problems:
        return CheckResult("activations", False, "; ".join(problems),
                           "re-initialize (He for ReLU, Xavier for tanh; biases at 0), lower "
                           "the learning rate, or use LeakyReLU / batch norm", numbers)
    return CheckResult("activations", True, summary or "no activation layers", "", numbers)


@dataclass
class LRFinderResult:
    """An LR range test: the loss as the learning rate grows exponentially.

    Attributes
    ----------
    lrs, losses : ndarray
        Learning rate and smoothed loss of each step, up to divergence.
    raw_losses : ndarray
    suggestion : float
        A tenth of the learning rate with the lowest smoothed loss: still on the steep part of
        the curve, safely below divergence.
    diverged_at : float or None
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggestion: float
    diverged_at: float | None

    def plot(self, ax=None):
        from ..plots import plot_lr_finder

        return plot_lr_finder(self, ax=ax)


def lr_range_test(model: Any, X: Any, y: Any, optimizer: Any = None, lr_min: float = 1e-7,
                  lr_max: float = 10.0, steps: int = 100, batch_size: int = 32,
                  smoothing: float = 0.05, diverge_factor: float = 4.0,
                  seed: int = 0) -> LRFinderResult:
    """LR range test: raise the learning rate from ``lr_min`` exponentially, step by step,
    until the loss diverges; runs on a copy, so ``model`` and ``optimizer`` are unchanged.

    The loss is smoothed with an exponential moving average (bias-corrected). The sweep stops
    when the smoothed loss exceeds ``diverge_factor`` times its minimum or becomes NaN.
    """
    X, y = np.asarray(X), np.asarray(y)
    model = copy.deepcopy(model)
    opt = copy.deepcopy(optimizer) if optimizer is not None else _default_optimizer()
    rng = np.random.default_rng(seed)
    factor = (lr_max / lr_min) ** (1 / max(steps - 1, 1))
    lrs, raw, smooth = [], [], []
    avg, best, diverged = 0.0, np.inf, None
    n = len(X)
    for t in range(steps):
        lr = lr_min * factor**t
        opt.lr = lr
        idx = rng.choice(n, size=min(batch_size, n), replace=False)
        with np.errstate(all="ignore"):
            loss, grads = model.loss_and_grads(X[idx], y[idx])
        if not np.isfinite(loss):
            diverged = lr
            break
        avg = (1 - smoothing) * avg + smoothing * loss
        s = avg / (1 - (1 - smoothing) ** (t + 1))
        lrs.append(lr)
        raw.append(loss)
        smooth.append(s)
        best = min(best, s)
        if s > diverge_factor * best:
            diverged = lr
            break
        with np.errstate(all="ignore"):
            opt.step(model.params, grads)
    lrs_a, smooth_a = np.asarray(lrs), np.asarray(smooth)
    suggestion = float(lrs_a[int(np.argmin(smooth_a))] / 10) if lrs else lr_min
    return LRFinderResult(lrs_a, smooth_a, np.asarray(raw), suggestion, diverged)
