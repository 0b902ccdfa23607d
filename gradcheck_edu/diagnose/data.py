"""Data sanity: the first rung of the debugging hierarchy. Look at the data before the model."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .result import CheckResult

__all__ = ["check_data", "check_leakage", "expected_initial_loss", "label_entropy"]


def _rows_cols(mask: np.ndarray) -> tuple[list[int], list[int]]:
    mask = mask.reshape(mask.shape[0], -1)
    rows = np.flatnonzero(mask.any(axis=1)).tolist()
    cols = np.flatnonzero(mask.any(axis=0)).tolist()
    return rows, cols


def _first(items: list, n: int = 5) -> str:
    return f"{items[:n]}{'...' if len(items) > n else ''}"


def _is_regression(y: np.ndarray, task: str) -> bool:
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    if task != "auto":
        return task == "regression"
    if y.ndim > 1 and y.shape[1] > 1:
        return True  # several outputs per sample: targets, not one class label
    if y.dtype.kind in "biu":
        return False
    finite = y[np.isfinite(y)] if y.dtype.kind == "f" else y
    return y.dtype.kind == "f" and not np.all(np.mod(finite, 1) == 0)


def _feature_problems(X: np.ndarray, scale_limit: float, numbers: dict) -> list:
    """(problem, fix, blocking) for NaN/Inf, scale, constant features and duplicate rows."""
    problems = []
    bad = ~np.isfinite(X)
    rows, cols = _rows_cols(bad) if bad.any() else ([], [])
    numbers.update(nan_rows=rows, nan_cols=cols)
    if rows:
        problems.append((f"{int(bad.sum())} NaN/Inf values in X, rows {_first(rows)}, columns "
                         f"{_first(cols)}", "drop or impute the NaN/Inf entries before "
                         "training", True))
    Xf = np.where(bad, np.nan, X)
    with warnings.catch_warnings():  # a column of NaN only: its std and mean are NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        std = np.nanstd(Xf, axis=0) if X.shape[0] else np.zeros(X.shape[1])
        mean = np.nanmean(Xf, axis=0) if X.shape[0] else np.zeros(X.shape[1])
    numbers.update(feature_std=std, feature_mean=mean)
    constant = np.flatnonzero(std == 0).tolist()
    numbers["constant"] = constant
    if constant:
        problems.append((f"constant features {_first(constant)} carry no information",
                         "drop constant features", False))
    unscaled = np.flatnonzero((std > scale_limit) | (np.abs(mean) > scale_limit)
                              | ((std > 0) & (std < 1 / scale_limit))).tolist()
    numbers["unscaled"] = unscaled
    if unscaled:  # (a flagged feature has a finite std and mean)
        problems.append((f"features {_first(unscaled)} are not normalized (std up to "
                         f"{np.max(std[unscaled]):.3g}, |mean| up to "
                         f"{np.max(np.abs(mean[unscaled])):.3g})",
                         "standardize each feature: (X - mean) / std, with the training set's "
                         "mean and std", True))
    _, first = np.unique(X, axis=0, return_index=True) if X.size else (None, np.arange(0))
    duplicates = X.shape[0] - len(first)
    numbers["duplicates"] = int(duplicates)
    if duplicates > 0.1 * X.shape[0]:
        problems.append((f"{duplicates} duplicate rows ({duplicates / X.shape[0]:.0%})",
                         "remove duplicate rows, or check how the data was assembled", False))
    return problems


def _target_problems(y: np.ndarray, regression: bool, imbalance_limit: float,
                     numbers: dict) -> list:
    """(problem, fix, blocking) for NaN/Inf targets, and class balance for class labels."""
    numbers["task"] = "regression" if regression else "classification"
    if y.dtype.kind in "fc":
        bad = ~np.isfinite(y)
        rows, _ = _rows_cols(bad) if bad.any() else ([], [])
        numbers["nan_target_rows"] = rows
        if rows:
            return [(f"{int(bad.sum())} NaN/Inf values in y, rows {_first(rows)}",
                     "drop the samples whose target is NaN/Inf, or fix how y was computed",
                     True)]
    if regression:
        yf = y.astype(np.float64)
        numbers.update(target_mean=float(yf.mean()), target_std=float(yf.std()))
        return []
    classes, counts = np.unique(y.ravel(), return_counts=True)
    numbers["class_counts"] = dict(zip(classes.tolist(), counts.tolist()))
    ratio = float(counts.max() / counts.min())
    numbers["imbalance"] = ratio
    if len(classes) < 2:
        return [(f"only one class ({classes.tolist()}) in the labels",
                 "check that the labels were loaded correctly", True)]
    if ratio > imbalance_limit:
        return [(f"classes are imbalanced {ratio:.1f}:1 ({numbers['class_counts']})",
                 "reweight the loss, resample, or report per-class metrics", False)]
    return []


def check_data(X: Any, y: Any = None, task: str = "auto", scale_limit: float = 10.0,
               imbalance_limit: float = 10.0) -> CheckResult:
    """NaN/Inf, feature scales, constant features, duplicate rows, and the targets.

    Some problems are *blocking* (``numbers["blocking"]`` is True): NaN/Inf in X or y (every
    loss becomes NaN), features that are not normalized (the initial loss, the gradients and
    the learning rate would all inherit the scale, so every later check would only repeat
    it), and a single class (nothing to learn). The checklist stops at a blocking problem.
    The others are warnings that fail this check without hiding the rest: constant features
    (they get no useful weight, but training works), duplicate rows (some samples count
    twice) and class imbalance (training works; accuracy misleads). A ValueError (not a
    failed check) is raised when X is not 2-D or X and y have different numbers of rows.

    Parameters
    ----------
    X : array_like, shape (N, D)
    y : array_like, shape (N,) or (N, k), optional
        Class labels or regression targets.
    task : {"auto", "classification", "regression"}
        "auto": targets with fractional values, or several per sample, are regression
        targets (no class statistics); integers are class labels.
    scale_limit : float
        A feature whose standard deviation or mean magnitude exceeds this (or whose std is
        below ``1/scale_limit``) counts as un-normalized.
    imbalance_limit : float
        Largest allowed ratio between the most and the least frequent class.

    Returns
    -------
    CheckResult
        ``numbers`` holds ``nan_rows``, ``nan_cols``, ``feature_std``, ``feature_mean``,
        ``constant``, ``unscaled``, ``duplicates``, ``blocking``, ``task``, and for targets
        ``nan_target_rows``, ``class_counts`` and ``imbalance`` (classes) or ``target_mean``
        and ``target_std`` (regression).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((50, 3)); X[4, 1] = np.nan
    >>> r = check_data(X)
    >>> r.passed, r.numbers["nan_rows"], r.numbers["nan_cols"], r.numbers["blocking"]
    (False, [4], [1], True)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got shape {X.shape}")
    numbers: dict[str, Any] = {}
    problems = _feature_problems(X, scale_limit, numbers)
    regression = False
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has shape {y.shape}; they need "
                             "one row per sample")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        regression = _is_regression(y, task)
        problems += _target_problems(y, regression, imbalance_limit, numbers)
    numbers["blocking"] = any(blocking for _, _, blocking in problems)
    if problems:
        return CheckResult("data", False, "; ".join(p for p, _, _ in problems),
                           "; ".join(f for _, f, _ in problems), numbers)
    msg = f"{X.shape[0]} rows x {X.shape[1]} features: finite, normalized, no constant features"
    if y is not None and regression:
        msg += (f"; regression targets, mean {numbers['target_mean']:.3g}, std "
                f"{numbers['target_std']:.3g}")
    elif y is not None:
        msg += f"; {len(numbers['class_counts'])} classes, balance {numbers['imbalance']:.1f}:1"
    return CheckResult("data", True, msg, "", numbers)


def check_leakage(X_train: Any, X_val: Any) -> CheckResult:
    """Rows that appear in both the training and the validation set (leakage).

    >>> import numpy as np
    >>> Xt = np.arange(12.0).reshape(6, 2)
    >>> check_leakage(Xt, Xt[:2]).numbers["shared_rows"]
    2
    """
    X_train = np.ascontiguousarray(X_train, dtype=np.float64)
    X_val = np.ascontiguousarray(X_val, dtype=np.float64)
    if X_train.ndim != 2 or X_val.ndim != 2 or X_train.shape[1] != X_val.shape[1]:
        raise ValueError(f"X_train {X_train.shape} and X_val {X_val.shape} must be 2-D with "
                         "the same number of features")
    train_rows = {row.tobytes() for row in X_train}
    shared = sum(row.tobytes() in train_rows for row in X_val)
    numbers = {"shared_rows": int(shared), "val_rows": int(X_val.shape[0])}
    if shared:
        return CheckResult("leakage", False,
                           f"{shared} of {X_val.shape[0]} validation rows are also in the "
                           "training set: validation scores will be too optimistic",
                           "split the data before any augmentation or deduplicate across "
                           "the split", numbers)
    return CheckResult("leakage", True, "no validation row appears in the training set", "",
                       numbers)


def label_entropy(y: Any, n_classes: int | None = None) -> float:
    """Entropy (nats) of the label distribution: the lowest loss an input-blind model reaches.

    >>> print(f"{label_entropy([0, 0, 1, 1]):.4f}")
    0.6931
    """
    y = np.asarray(y)
    counts = np.bincount(y.astype(np.int64).ravel(), minlength=n_classes or 0)
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def expected_initial_loss(y: Any, loss: str = "softmax_cross_entropy",
                          n_classes: int | None = None) -> float:
    """The loss of a model that predicts uniformly: where training should start.

    ``-ln(1/C)`` for softmax cross-entropy over C classes (2.302 for 10); ``ln 2 = 0.693`` for
    binary cross-entropy with a model predicting 0.5, whatever the class balance (20% zeros and
    80% ones still give ``-0.2 ln 0.5 - 0.8 ln 0.5 = 0.693``); for MSE, the mean of ``y**2``
    (a model that outputs 0).

    These are the losses of an *uninformed* prediction. The lowest loss an input-blind model
    can reach is lower when the targets are skewed: the label entropy (:func:`label_entropy`)
    for classes, the variance of ``y`` (always predicting the mean) for MSE.

    Parameters
    ----------
    y : array_like
        Labels (class indices for softmax cross-entropy) or targets.
    loss : {"softmax_cross_entropy", "binary_cross_entropy", "mse"}
    n_classes : int, optional
        Number of classes; by default ``max(y) + 1``.

    Examples
    --------
    >>> print(f"{expected_initial_loss(list(range(10))):.3f}")
    2.303
    >>> print(f"{expected_initial_loss([0, 1, 1, 1, 1], loss='binary_cross_entropy'):.3f}")
    0.693
    """
    y = np.asarray(y)
    if loss == "softmax_cross_entropy":
        C = int(n_classes if n_classes is not None else y.max() + 1)
        if C < 2:
            raise ValueError("softmax cross-entropy needs at least 2 classes")
        return float(np.log(C))
    if loss == "binary_cross_entropy":
        return float(np.log(2.0))
    if loss == "mse":
        return float(np.mean(np.asarray(y, dtype=np.float64) ** 2))
    raise ValueError(f"unknown loss {loss!r}; use 'softmax_cross_entropy', "
                     "'binary_cross_entropy' or 'mse'")


def input_blind_loss(y: Any, loss: str = "softmax_cross_entropy",
                     n_classes: int | None = None) -> float:
    """The lowest loss a model that ignores the inputs can reach on ``y``.

    The label entropy for class labels (predict the class frequencies), the variance of ``y``
    for MSE (predict the mean). A model that ends no lower than this has learned nothing
    from the inputs.

    >>> print(f"{input_blind_loss([1.0, 3.0], loss='mse'):.3f}")
    1.000
    """
    if loss == "mse":
        return float(np.mean(np.var(np.asarray(y, dtype=np.float64), axis=0)))
    if loss not in ("softmax_cross_entropy", "binary_cross_entropy"):
        expected_initial_loss(y, loss)  # raises the unknown-loss error
    return label_entropy(y, n_classes)
