"""Checks that train fresh models briefly: overfit a tiny set, and do the labels match the
inputs. Each builds its models with ``make_model()`` and its optimizers with
``make_optimizer()`` (see :mod:`gradcheck_edu.diagnose.protocol`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .bands import OVERFIT_LOSS
from .protocol import (
    checked_data,
    data_loss,
    default_optimizer,
    fit,
    loss_name,
    n_outputs,
    random_subset,
)
from .result import CheckResult

__all__ = ["overfit_tiny", "check_labels"]


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
        final = data_loss(model, X, y, training=False)
        if final <= target:
            break
    return first, final


def overfit_tiny(make_model: Callable[[], Any], X: Any, y: Any,
                 make_optimizer: Callable[[], Any] | None = None, n_samples: int = 20,
                 batch_size: int = 32, steps: int = 2000,
                 target: float = OVERFIT_LOSS.high, seed: int = 0) -> CheckResult:
    """Overfit a tiny dataset, and a single batch: the loss should fall to about 0.

    A correct model with enough capacity memorizes a handful of samples. If it cannot, there
    is a bug (check the gradients), too little capacity, or a learning rate that does not
    work; the checklist tells these apart with its other items. Training stops as soon as the
    loss (in evaluation mode when the model has one: no dropout) is below ``target`` (band
    :data:`~gradcheck_edu.diagnose.bands.OVERFIT_LOSS`), after at most ``steps`` steps.

    Parameters
    ----------
    make_model : callable
        Returns a fresh model (one per subset).
    X : array_like, shape (N, D)
    y : array_like, shape (N,) or (N, k)
    make_optimizer : callable, optional
        Returns a fresh optimizer (default: Adam 1e-3).
    n_samples, batch_size : int
        The sizes of the two random subsets: the tiny set and the single batch.
    steps : int
    target : float
    seed : int

    Returns
    -------
    CheckResult named ``"overfit"``; ``numbers`` has ``tiny_set_final_loss``,
    ``single_batch_final_loss`` and the first-step losses ``*_initial_loss``.
    """
    X, y = checked_data(X, y, "overfit_tiny")
    make_optimizer = make_optimizer or default_optimizer
    rng = np.random.default_rng(seed)
    results = {}
    for label, n in (("tiny set", n_samples), ("single batch", batch_size)):
        idx = random_subset(len(y), n, rng)
        results[label] = (len(idx),) + _overfit_one(make_model, make_optimizer, X[idx], y[idx],
                                                    steps, target, seed)
    numbers = {f"{k.replace(' ', '_')}_final_loss": v[2] for k, v in results.items()}
    numbers.update({f"{k.replace(' ', '_')}_initial_loss": v[1] for k, v in results.items()})
    text = ", ".join(f"{k} ({n} samples) {a:.3g} -> {b:.3g}" for k, (n, a, b) in results.items())
    band = OVERFIT_LOSS.with_limits(high=target)
    sizes = " and ".join(str(n) for n, _, _ in results.values())
    ran = (f"fresh models on random subsets of {sizes} samples, at most {steps} steps each: a "
           "correct model memorizes a handful of samples")
    if all(band.contains(final) for _, _, final in results.values()):
        return CheckResult("overfit", True, f"the loss falls to ~0: {text} ({band.healthy()})",
                           "", numbers, ran=ran)
    return CheckResult("overfit", False, f"the loss does not fall to ~0: {text} "
                       f"({band.healthy()})",
                       "check the gradients (gradient check); if they are right, the model "
                       "lacks capacity or the learning rate is off", numbers, ran=ran)


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
    name = loss_name(model)
    n_classes = n_outputs(model) or int(max(np.max(y_tr), np.max(y_te))) + 1
    if hasattr(model, "accuracy") and name != "mse":
        chance = float(np.max(np.bincount(y_te.astype(np.int64).ravel())) / len(y_te))
        return {"kind": "accuracy", "train": model.accuracy(X_tr, y_tr),
                "test": model.accuracy(X_te, y_te), "chance": chance}
    blind_tr = max(_blind_loss(y_tr, y_tr, name, n_classes), 1e-12)
    blind_te = max(_blind_loss(y_tr, y_te, name, n_classes), 1e-12)
    return {"kind": "skill", "train": 1 - data_loss(model, X_tr, y_tr, False) / blind_tr,
            "test": 1 - data_loss(model, X_te, y_te, False) / blind_te, "chance": 0.0}


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

    Parameters
    ----------
    make_model, make_optimizer : callable
        Fresh models and optimizers (default optimizer: Adam 1e-3).
    X : array_like, shape (N, D)
    y : array_like, shape (N,) or (N, k)
    n_samples : int
        At most this many random samples take part.
    train_fraction : float
        The share of them the model is fitted on; the rest are held out.
    steps : int
        Optimizer steps of each fit (mini-batches of 64).
    seed : int

    Returns
    -------
    CheckResult named ``"labels"``: True, False (misaligned) or None (cannot tell).
    """
    X, y = checked_data(X, y, "check_labels", min_rows=4)
    make_optimizer = make_optimizer or default_optimizer
    rng = np.random.default_rng(seed)
    idx = rng.permutation(random_subset(len(y), n_samples, rng))
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
    ran = (f"fresh models fitted on {len(tr)} random samples for {steps} steps and scored on "
           f"{len(te)} others, once with the labels and once with them shuffled: a short fit "
           "shows whether what is learned carries over to new samples")
    if verdict is False:
        return CheckResult("labels", False, f"the model memorizes the labels but predicts "
                           f"new samples no better than chance, as with shuffled labels ({msg})",
                           "check that X and y are aligned: the same shuffling, the same "
                           "order, the right label column", numbers, ran=ran)
    if verdict is None:
        return CheckResult("labels", None, f"cannot tell: the model learned too little in a "
                           f"short fit to show whether the labels match ({msg}); see capacity "
                           "and learning_rate", "", numbers, ran=ran)
    return CheckResult("labels", True, msg, "", numbers, ran=ran)
