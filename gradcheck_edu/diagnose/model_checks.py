"""Checks that look at a model: loss at chance, overfitting a tiny set, gradients, activations,
the learning rate, and whether the labels match the inputs.

The model protocol (duck typing, no base class):

* ``params``: a dict of float arrays that the model reads in place;
* ``loss(X, y) -> float`` and ``loss_and_grads(X, y) -> (float, dict of gradients)``;
* optional: ``loss_parts(X, y) -> (data loss, regularization loss)``; ``loss_name``
  (``"softmax_cross_entropy"``, the default, ``"binary_cross_entropy"`` or ``"mse"``);
  ``layer_sizes`` (the last entry is the number of outputs); ``accuracy(X, y)``; a
  ``training`` keyword on ``loss``/``loss_parts`` for evaluation mode; ``freeze_dropout(seed)``
  to make a random (dropout) loss deterministic for the gradient check;
* for the activation check, ``forward(X, return_activations=True) -> (out, activations)``,
  described in :func:`activation_stats`.

Training checks take a ``make_model()`` that returns a fresh model and an optimizer with
``step(params, grads)`` and an ``lr`` attribute. No check modifies the caller's model: the
checks that take a model work on a ``copy.deepcopy`` of it (parameters, batch-norm running
statistics and random-number streams included).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..check import check_model
from ..nn.train import _accepts
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


def _loss_parts(model: Any, X: Any, y: Any, training: bool = True) -> tuple[float, float]:
    """(data loss, regularization loss); 0 for the latter when the model has no
    ``loss_parts``. ``training=False`` uses evaluation mode when the model offers it (no
    dropout, batch norm with its running statistics)."""
    fn = model.loss_parts if hasattr(model, "loss_parts") else model.loss
    kwargs = {} if training or not _accepts(fn, "training") else {"training": False}
    with np.errstate(all="ignore"):
        value = fn(X, y, **kwargs)
    if hasattr(model, "loss_parts"):
        return float(value[0]), float(value[1])
    return float(value), 0.0


def _data_loss(model: Any, X: Any, y: Any, training: bool = True) -> float:
    """The data loss (without regularization); see :func:`_loss_parts`."""
    return _loss_parts(model, X, y, training)[0]


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


def _subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n indices, drawn at random, in increasing order."""
    if n >= len(y):
        return np.arange(len(y))
    return np.sort(rng.choice(len(y), size=n, replace=False))


# --------------------------------------------------------------------------- loss at chance


def check_initial_loss(model: Any, X: Any, y: Any, tolerance: float = 0.5,
                       output_limit: float = 10.0) -> CheckResult:
    """Compare the untrained model's data loss with the loss at chance.

    Classification: a freshly initialized classifier predicts roughly uniformly, so its loss
    should be close to ``-ln(1/C)`` (``ln 2`` for binary cross-entropy); it fails above
    ``(1 + tolerance)`` times that. Far above chance means too-large initial weights or
    unnormalized inputs (the logits are huge and confidently wrong).

    MSE: an untrained network does not output 0. He/Xavier initialization keeps the signal's
    scale, so on standardized inputs its outputs are random numbers with a mean square of
    order 1 (0.2 to 6 for the MLPs here, depending on the seed), uncorrelated with ``y``. Its
    loss is then about ``mean(y**2)`` (the loss of outputting 0) plus the outputs' mean
    square. The check estimates that mean square as ``loss - mean(y**2)`` and fails above
    ``output_limit``: outputs of that size come from too-large weights or inputs.

    The loss is measured in training mode on a copy of the model (the model is unchanged).
    """
    y = np.asarray(y)
    name = _loss_name(model)
    chance = expected_initial_loss(y, name, n_classes=_n_outputs(model)
                                   if name == "softmax_cross_entropy" else None)
    loss = _data_loss(copy.deepcopy(model), X, y)
    numbers = {"initial_loss": loss, "chance_loss": chance}
    fix = "scale the initial weights down (He/Xavier init) and normalize the inputs"
    if name == "mse":
        numbers["output_power"] = power = max(loss - chance, 0.0)
        what = (f"the initial loss {loss:.3g} is the loss of outputting 0 ({chance:.3g}) plus "
                f"about {power:.3g}, the mean square of the untrained outputs")
        if not np.isfinite(loss) or power > output_limit:
            return CheckResult("initial_loss", False, f"{what}: far above the ~1 of a "
                               "well-initialized network", fix, numbers)
        return CheckResult("initial_loss", True, f"{what} (healthy below {output_limit:g})",
                           "", numbers)
    if name == "softmax_cross_entropy":
        numbers["label_entropy"] = label_entropy(y, _n_outputs(model))
    if not np.isfinite(loss) or loss > (1 + tolerance) * chance:
        return CheckResult("initial_loss", False,
                           f"the initial loss {loss:.3g} is far above the loss at chance "
                           f"{chance:.3g}", fix, numbers)
    return CheckResult("initial_loss", True,
                       f"the initial loss {loss:.3g} is close to the loss at chance "
                       f"{chance:.3g}", "", numbers)


# --------------------------------------------------------------------------- training checks


def _overfit_one(make_model: Callable, make_optimizer: Callable, X: np.ndarray, y: np.ndarray,
                 steps: int, target: float, seed: int) -> tuple[float, float]:
    """Train a fresh model on (X, y) until its loss (evaluation mode) is below ``target``;
    (first step's loss, final loss)."""
    model, opt = make_model(), make_optimizer()
    first, final, done = None, np.inf, 0
    while done < steps:
        losses = fit(model, X, y, opt, min(100, steps - done), seed=seed)
        first = losses[0] if first is None else first
        done += len(losses)
        if not np.isfinite(losses[-1]):
            return first, np.inf
        final = _data_loss(model, X, y, training=False)
        if final <= target:
            break
    return first, final


def overfit_tiny(make_model: Callable[[], Any], X: Any, y: Any,
                 make_optimizer: Callable[[], Any] | None = None, n_samples: int = 20,
                 batch_size: int = 32, steps: int = 2000, target: float = 0.05,
                 seed: int = 0) -> CheckResult:
    """Overfit a tiny dataset, and a single batch: the loss should fall to about 0.

    A correct model with enough capacity memorizes a handful of samples. If it cannot, there
    is a bug (check the gradients) or too little capacity. Training stops as soon as the loss
    (in evaluation mode when the model has one: no dropout) is below ``target``, after at
    most ``steps`` steps.
    """
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or _default_optimizer
    rng = np.random.default_rng(seed)
    results = {}
    for label, n in (("tiny set", n_samples), ("single batch", batch_size)):
        idx = _subset(y, n, rng)
        results[label] = (len(idx),) + _overfit_one(make_model, make_optimizer, X[idx], y[idx],
                                                    steps, target, seed)
    numbers = {f"{k.replace(' ', '_')}_final_loss": v[2] for k, v in results.items()}
    numbers.update({f"{k.replace(' ', '_')}_initial_loss": v[1] for k, v in results.items()})
    text = ", ".join(f"{k} ({n} samples) {a:.3g} -> {b:.3g}" for k, (n, a, b) in results.items())
    if all(final <= target for _, _, final in results.values()):
        return CheckResult("overfit", True, f"the loss falls to ~0: {text}", "", numbers)
    return CheckResult("overfit", False, f"the loss does not fall to ~0: {text}",
                       "check the gradients (gradient check); if they are right, the model "
                       "lacks capacity or the learning rate is off", numbers)


def _blind_loss(y_train: np.ndarray, y_test: np.ndarray, name: str, n_classes: int) -> float:
    """The loss on ``y_test`` of an input-blind model fitted to ``y_train`` (class
    frequencies, with one extra count per class, or the mean target)."""
    if name == "mse":
        mean = np.mean(y_train.astype(np.float64), axis=0)
        return float(np.mean((y_test - mean) ** 2))
    if name == "binary_cross_entropy":
        p = np.clip(np.mean(y_train), 1e-3, 1 - 1e-3)
        return float(-np.mean(y_test * np.log(p) + (1 - y_test) * np.log(1 - p)))
    counts = np.bincount(y_train.astype(np.int64), minlength=n_classes) + 1.0
    return float(-np.mean(np.log(counts / counts.sum())[y_test.astype(np.int64)]))


def _labels_scores(model: Any, X_tr, y_tr, X_te, y_te) -> dict:
    """Training and held-out score, and the input-blind (chance) score on the held-out part.

    Accuracy when the model has one (chance: the most frequent class); otherwise a skill
    score ``1 - loss / input-blind loss`` (chance: 0).
    """
    name = _loss_name(model)
    n_classes = _n_outputs(model) or int(max(np.max(y_tr), np.max(y_te))) + 1
    if hasattr(model, "accuracy") and name != "mse":
        chance = float(np.max(np.bincount(y_te.astype(np.int64).ravel())) / len(y_te))
        return {"kind": "accuracy", "train": model.accuracy(X_tr, y_tr),
                "test": model.accuracy(X_te, y_te), "chance": chance}
    blind_tr = max(_blind_loss(y_tr, y_tr, name, n_classes), 1e-12)
    blind_te = max(_blind_loss(y_tr, y_te, name, n_classes), 1e-12)
    return {"kind": "skill", "train": 1 - _data_loss(model, X_tr, y_tr, False) / blind_tr,
            "test": 1 - _data_loss(model, X_te, y_te, False) / blind_te, "chance": 0.0}


def _labels_verdict(s: dict, n_train: int, n_test: int) -> bool | None:
    """True: the held-out score is clearly above chance. False: the model memorized the
    training part (training score clearly above held-out) yet predicts new samples no better
    than chance. None: it learned too little to tell.

    For accuracy, "clearly" is three binomial standard errors at the chance rate; for the
    skill score, 0.1 above chance and a 0.3 memorization gap.
    """
    if s["kind"] == "accuracy":
        p = min(max(s["chance"], 0.05), 0.95)
        above = 3 * np.sqrt(p * (1 - p) / n_test)
        gap = 3 * np.sqrt(p * (1 - p) * (1 / n_train + 1 / n_test))
    else:
        above, gap = 0.1, 0.3
    if s["test"] > s["chance"] + above:
        return True
    if s["train"] - s["test"] > gap:
        return False
    return None


def check_labels(make_model: Callable[[], Any], X: Any, y: Any,
                 make_optimizer: Callable[[], Any] | None = None, n_samples: int = 300,
                 train_fraction: float = 0.2, steps: int = 400, seed: int = 0) -> CheckResult:
    """Do the labels match the inputs? A short fit on a few samples, scored on the others.

    Fit a fresh model on ``train_fraction`` of up to ``n_samples`` samples and score it on
    the rest (held out), once with the labels and once with shuffled labels. If the labels
    belong to the inputs, what the model learns carries over to new samples: the held-out
    score is clearly above chance (pass). If the model fits its training samples but scores
    no better than chance on new ones, it has memorized labels that behave like the shuffled
    ones, as noise: the pipeline is misaligned (fail: shuffled X and not y, an off-by-one
    join, the wrong label column). If it learned too little to fit even its training samples
    (a tiny model, a too-low learning rate), the check cannot tell: ``passed`` is None.
    The shuffled fit shows what "the inputs carry no information" looks like for this model.
    """
    X, y = np.asarray(X), np.asarray(y)
    make_optimizer = make_optimizer or _default_optimizer
    rng = np.random.default_rng(seed)
    idx = rng.permutation(_subset(y, n_samples, rng))
    n_train = min(max(2, int(round(train_fraction * len(idx)))), len(idx) - 1)
    tr, te = idx[:n_train], idx[n_train:]
    shuffled = y.copy()
    shuffled[idx] = y[rng.permutation(idx)]
    scores = {}
    for label, target in (("labels", y), ("shuffled", shuffled)):
        model = make_model()
        fit(model, X[tr], target[tr], make_optimizer(), steps, batch_size=64, seed=seed)
        scores[label] = _labels_scores(model, X[tr], target[tr], X[te], target[te])
    s, sh = scores["labels"], scores["shuffled"]
    numbers = {"kind": s["kind"], "train_score": s["train"], "heldout_score": s["test"],
               "chance": s["chance"], "shuffled_train_score": sh["train"],
               "shuffled_heldout_score": sh["test"], "n_train": len(tr), "n_heldout": len(te)}
    what = "accuracy" if s["kind"] == "accuracy" else "skill (1 - loss / input-blind loss)"
    msg = (f"{what} after {steps} steps on {len(tr)} samples: held-out {s['test']:.3g} "
           f"(chance {s['chance']:.3g}), training {s['train']:.3g}; with shuffled labels: "
           f"held-out {sh['test']:.3g}, training {sh['train']:.3g}")
    verdict = _labels_verdict(s, len(tr), len(te))
    if verdict is False:
        return CheckResult("labels", False, f"the model memorizes the labels but predicts "
                           f"new samples no better than chance, as with shuffled labels ({msg})",
                           "check that X and y are aligned: the same shuffling, the same "
                           "order, the right label column", numbers)
    if verdict is None:
        return CheckResult("labels", None, f"cannot tell: the model learned too little in a "
                           f"short fit to show whether the labels match ({msg}); see capacity "
                           "and learning_rate", "", numbers)
    return CheckResult("labels", True, msg, "", numbers)


# --------------------------------------------------------------------------- gradients


def _deterministic_copy(model: Any, X: np.ndarray, y: np.ndarray, seed: int):
    """A copy of ``model`` whose loss is deterministic (dropout masks frozen when the model
    has ``freeze_dropout``), or (None, why) when the loss stays random."""
    trial = copy.deepcopy(model)
    if callable(getattr(trial, "freeze_dropout", None)):
        trial.freeze_dropout(seed)
    with np.errstate(all="ignore"):
        first, second = trial.loss(X, y), trial.loss(X, y)
    if first != second:
        return None, (f"the loss differs between two calls at the same parameters ({first:.6g}, "
                      f"{second:.6g}): dropout or other randomness, and the model has no "
                      "freeze_dropout(seed) to fix it for the gradient check")
    return trial, ""


def _one_step_ratios(trial: Any, grads: dict, optimizer: Any) -> dict:
    """``||delta W|| / ||W||`` for each weight after one step of a copy of ``optimizer`` with
    ``grads``; the step changes ``trial`` (a private copy of the model)."""
    opt = copy.deepcopy(optimizer)
    before = {k: np.array(v, copy=True) for k, v in trial.params.items() if k.startswith("W")}
    with np.errstate(all="ignore"):
        opt.step(trial.params, grads)
    return {k: float(np.linalg.norm(trial.params[k] - before[k])
                     / max(np.linalg.norm(before[k]), 1e-300)) for k in before}


def check_gradients(model: Any, X: Any, y: Any, n_samples: int = 16,
                    optimizer: Any = None, seed: int = 0,
                    flag_vanishing: bool = True) -> CheckResult:
    """Gradient check on a few samples, per-layer gradient norms and update/weight ratios.

    Runs on a copy of the model with its dropout masks frozen (``freeze_dropout``), so the
    loss is a deterministic function of the parameters; a model whose loss stays random gives
    ``passed=None``. Fails when the gradient check fails, or when the gradient norms of the
    weights (``W*`` parameters, on the whole of ``X``) vanish (< 1e-8) or explode (> 1e4).
    ``flag_vanishing=False`` reports vanishing gradients without failing (the checklist does
    so when dead activations already explain them).

    The update/weight ratio ``||delta W|| / ||W||`` of one optimizer step is reported in
    ``numbers["update_ratios"]`` and judged by the learning-rate item
    (:func:`~gradcheck_edu.diagnose.check_update_ratios`), not here: it measures the learning
    rate, not the gradient.
    """
    X, y = np.asarray(X), np.asarray(y)
    rng = np.random.default_rng(seed)
    idx = _subset(y, n_samples, rng)
    trial, why = _deterministic_copy(model, X[idx], y[idx], seed)
    if trial is None:
        return CheckResult("gradients", None, f"not run: {why}")
    report = check_model(trial, X[idx], y[idx])
    with np.errstate(all="ignore"):
        _, grads = trial.loss_and_grads(X, y)
    norms = {k: float(np.linalg.norm(g)) for k, g in grads.items()}
    # the last use of trial: the step may change it (and grads, the model's own buffers)
    ratios = _one_step_ratios(trial, grads, optimizer if optimizer is not None
                              else _default_optimizer())
    numbers = {"relative_error": report.relative_error, "verdict": report.verdict.name,
               "grad_norms": norms, "update_ratios": ratios, "report": report}
    weights = {k: v for k, v in norms.items() if k.startswith("W")}
    norm_txt = ", ".join(f"{k} {v:.1e}" for k, v in weights.items())
    vanishing = [k for k, v in weights.items() if v < 1e-8]
    exploding = [k for k, v in weights.items() if not v <= 1e4]
    note = ""
    if vanishing and not flag_vanishing:
        note, vanishing = f"; gradients vanish in {vanishing} (see activations)", []
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
                           f"{vanishing or exploding} (norms {norm_txt})",
                           "use He/Xavier initialization, batch norm, or a non-saturating "
                           "activation; clip gradients if they explode", numbers)
    return CheckResult("gradients", True,
                       f"gradient check {report.verdict.name} (relative error "
                       f"{report.relative_error:.1e}); gradient norms {norm_txt}{note}", "",
                       numbers)


# --------------------------------------------------------------------------- activations

_NONLINEAR = ("relu", "leakyrelu", "tanh", "sigmoid")
_NOT_ACTIVATIONS = ("linear", "batchnorm1d", "batchnorm", "dropout", "layer")


def _kind(name: Any) -> str | None:
    return None if name is None else str(name).lower().replace("_", "")


def _activation_entries(model: Any, X: Any) -> list[tuple[Any, str | None, np.ndarray]]:
    """(layer, kind, values) for each activation the model's forward returns."""
    forward = model.forward
    kwargs = {"training": True} if _accepts(forward, "training") else {}
    _, acts = forward(X, return_activations=True, **kwargs)
    layers = getattr(model, "layers", None)
    aligned = layers is not None and len(layers) == len(acts)
    entries = []
    for i, a in enumerate(acts):
        if isinstance(a, tuple) and len(a) == 3:
            entries.append((a[0], _kind(a[1]), np.asarray(a[2])))
        else:
            entries.append((i, _kind(type(layers[i]).__name__) if aligned else None,
                            np.asarray(a)))
    return [e for e in entries if e[1] not in _NOT_ACTIVATIONS]


RELU_KINDS = ("relu", "leakyrelu")


def saturated(kind: str, a: np.ndarray) -> np.ndarray | None:
    """Where a tanh (beyond +-0.99) or sigmoid (beyond 0.01 / 0.99) output is saturated; None
    for other kinds."""
    if kind == "tanh":
        return np.abs(a) > 0.99
    if kind == "sigmoid":
        return (a < 0.01) | (a > 0.99)
    return None


def activation_stats(model: Any, X: Any, max_samples: int = 1000) -> list[dict[str, Any]]:
    """Per activation layer: mean, std, dead fraction (ReLU units zero on the whole batch),
    saturated fraction (tanh beyond +-0.99, sigmoid beyond 0.01 / 0.99), and the values.

    The model's ``forward(X, return_activations=True)`` (with ``training=True`` when it takes
    that keyword; on a copy, so the model is unchanged) returns ``(out, activations)``. Each
    entry of ``activations`` is either

    * a tuple ``(name, kind, values)``: ``kind`` names the nonlinearity (``"relu"``,
      ``"leaky_relu"``, ``"tanh"``, ``"sigmoid"``; anything else or None: unknown), or
    * an array: the output of ``model.layers[i]`` when the model has a list ``layers`` of the
      same length, whose class name gives the kind (``ReLU``, ``Tanh``, ...; the outputs of
      ``Linear``, ``BatchNorm1d`` and ``Dropout`` layers are skipped), else of unknown kind.

    For an unknown kind, ``dead`` and ``saturated`` are None: only the scale is judged.
    At most ``max_samples`` samples (the first ones) are used.
    """
    X = np.asarray(X)[:max_samples]
    stats = []
    for layer, kind, a in _activation_entries(copy.deepcopy(model), X):
        a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
        entry = {"layer": layer, "kind": kind or "unknown", "mean": float(a.mean()),
                 "std": float(a.std()), "dead": None, "saturated": None, "values": a}
        sat = saturated(kind, a)
        if kind in RELU_KINDS:
            entry.update(dead=float(np.mean(np.all(a <= 0, axis=0))), saturated=0.0)
        elif sat is not None:
            entry.update(dead=0.0, saturated=float(np.mean(sat)))
        stats.append(entry)
    return stats


def _describe(s: dict) -> str:
    text = f"layer {s['layer']} {s['kind']}: std {s['std']:.2g}"
    if s["dead"] is None:
        return text + " (unknown nonlinearity: dead/saturated not judged)"
    return text + f", dead {s['dead']:.0%}, saturated {s['saturated']:.0%}"


def check_activations(model: Any, X: Any, max_dead: float = 0.5, max_saturated: float = 0.5,
                      min_std: float = 1e-3) -> CheckResult:
    """Healthy activations: few dead ReLU units, few saturated tanh/sigmoid, no vanishing scale.

    Dead ReLUs pass no gradient (often from large negative biases or a too-high learning rate);
    saturated tanh/sigmoid units have near-zero derivative (weights too large); a vanishing
    scale shrinks the signal layer after layer (weights too small). The model needs
    ``forward(X, return_activations=True)`` (see :func:`activation_stats`); without it the
    result is ``passed=None``.
    """
    forward = getattr(model, "forward", None)
    if not callable(forward) or not _accepts(forward, "return_activations"):
        return CheckResult("activations", None, "not run: the model has no forward(X, "
                           "return_activations=True) returning (out, activations)")
    stats = activation_stats(model, X)
    numbers = {"layers": stats}
    problems = []
    for s in stats:
        where = f"layer {s['layer']} ({s['kind']})"
        dead = s["dead"] or 0.0
        if dead > max_dead:
            problems.append(f"{dead:.0%} dead units in {where}")
        if (s["saturated"] or 0.0) > max_saturated:
            problems.append(f"{s['saturated']:.0%} saturated activations in {where}")
        if s["std"] < min_std and dead <= max_dead:
            problems.append(f"vanishing activations (std {s['std']:.1e}) in {where}")
    if problems:
        return CheckResult("activations", False, "; ".join(problems),
                           "re-initialize (He for ReLU, Xavier for tanh; biases at 0), lower "
                           "the learning rate, or use LeakyReLU / batch norm", numbers)
    summary = "; ".join(_describe(s) for s in stats)
    return CheckResult("activations", True, summary or "no activation layers", "", numbers)


# --------------------------------------------------------------------------- learning rate


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
    when the smoothed loss exceeds ``diverge_factor`` times its minimum or becomes NaN. The
    minimum for the suggestion is looked for after the first ``1 / smoothing`` steps, when the
    average spans enough batches not to be one lucky batch.
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
    skip = min(int(1 / smoothing), len(lrs) // 2)
    suggestion = float(lrs_a[skip + int(np.argmin(smooth_a[skip:]))] / 10) if lrs else lr_min
    return LRFinderResult(lrs_a, smooth_a, np.asarray(raw), suggestion, diverged)
