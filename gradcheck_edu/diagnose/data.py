"""Data sanity: the first rung of the debugging hierarchy. Look at the data before the model.

Findings are weighed as a practitioner would. Some make every later check meaningless and
*block* (NaN/Inf, labels out of range or of one class, a feature that leaks the label, wildly
unscaled inputs). Some are worth fixing but training still works: they fail the data item
without hiding the rest (duplicate rows, class imbalance; and in the checklist, validation
rows that are also training rows, which withholds only the verdicts that compare with
validation). Some are *notes*, normal for the data at hand and not
failures: constant border pixels and low-variance pixels of images on one shared scale;
constant or low-variance tabular features (per-feature standardization is advice there).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np

from .bands import DUPLICATES, IMBALANCE, INPUT_SCALE, LEAK_CORRELATION
from .protocol import checked_data
from .result import CheckResult

__all__ = ["check_data", "check_leakage", "image_shape_of", "summarize", "Finding"]

BLOCK, FAIL, NOTE = "block", "fail", "note"


class Finding(NamedTuple):
    """One data finding; ``severity`` is "block", "fail" or "note"."""

    problem: str
    fix: str
    severity: str


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


def image_shape_of(X: np.ndarray, image_shape: Any = None) -> tuple[int, int] | None:
    """The image shape of the rows of ``X``: ``image_shape`` when given (False: not images),
    else a guess: a square number of features (16 or more) that are all non-negative
    (intensities), e.g. 64 -> (8, 8); None when the rows are not images.

    >>> image_shape_of(np.zeros((3, 64))), image_shape_of(np.zeros((3, 5)))
    ((8, 8), None)
    """
    if image_shape is False:
        return None
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != X.shape[1]:
            raise ValueError(f"image_shape {image_shape} does not hold the {X.shape[1]} "
                             "features of a row; give (height, width) with height * width "
                             "equal to the number of features")
        return shape
    side = math.isqrt(X.shape[1])
    finite = X[np.isfinite(X)]
    if side >= 4 and side * side == X.shape[1] and finite.size and finite.min() >= 0:
        return (side, side)
    return None


def _scale_findings(X: np.ndarray, numbers: dict, images: bool) -> list:
    """Wildly unscaled inputs (block); constant and low-variance features (notes)."""
    out = []
    Xf = np.where(np.isfinite(X), X, np.nan)
    with warnings.catch_warnings():  # a column of NaN only: its statistics are NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        std = np.nanstd(Xf, axis=0) if X.shape[0] else np.zeros(X.shape[1])
        mean = np.nanmean(Xf, axis=0) if X.shape[0] else np.zeros(X.shape[1])
        top = np.nanpercentile(np.abs(Xf), 99, axis=0) if X.shape[0] else np.zeros(X.shape[1])
    numbers.update(feature_std=std, feature_mean=mean)
    scale = np.fmax(np.fmax(top, np.abs(mean)), std)
    unscaled = np.flatnonzero(~np.vectorize(INPUT_SCALE.contains, otypes=[bool])(
        np.nan_to_num(scale, nan=0.0))).tolist() if X.shape[1] else []
    numbers["unscaled"] = unscaled
    constant = np.flatnonzero(std == 0).tolist()
    numbers["constant"] = constant
    low = np.flatnonzero((std > 0) & (std < 1 / INPUT_SCALE.high)).tolist()
    numbers["low_variance"] = low
    finite = X[np.isfinite(X)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if unscaled and images:
        out.append(Finding(f"the pixels span {lo:g} to {hi:g} ({INPUT_SCALE.healthy()})",
                           f"scale the pixels to [0, 1]: divide by {hi:g}, their maximum",
                           BLOCK))
    elif unscaled:
        out.append(Finding(f"features {_first(unscaled)} are not scaled (up to "
                           f"{np.nanmax(scale[unscaled]):.3g}; {INPUT_SCALE.healthy()})",
                           "standardize each feature: (X - mean) / std, with the training "
                           "set's mean and std", BLOCK))
    if constant and images:
        out.append(Finding(f"{len(constant)} pixels are constant ({_first(constant)}: "
                           "border pixels no digit reaches; normal for images, they get no "
                           "useful weight and do no harm)", "", NOTE))
    elif constant:
        out.append(Finding(f"constant features {_first(constant)} carry no information "
                           "(harmless to training; check that they were loaded correctly)",
                           "", NOTE))
    if low and not unscaled:
        what = (f"{len(low)} pixels vary little (std below {1 / INPUT_SCALE.high:g}), on the "
                f"shared scale {lo:g} to {hi:g} of all pixels: normal for images, no "
                "per-pixel standardization needed") if images else (
                f"features {_first(low)} vary little (std below {1 / INPUT_SCALE.high:g}); "
                "standardizing each feature would give them equal weight at the start")
        out.append(Finding(what, "", NOTE))
    return out


def _leaking_features(X: np.ndarray, y: np.ndarray, regression: bool) -> list[int]:
    """Features from which the label can be read off alone.

    Classes: sorted by the feature (ties in random order), the labels change only between
    classes, never within one: every class occupies a range of the feature no other class
    enters. Only judged with at least 10 samples per class (by chance, a few samples of a real
    feature can separate). Regression: ``|correlation| >= LEAK_CORRELATION`` with the target.
    """
    n = X.shape[0]
    finite_cols = np.all(np.isfinite(X), axis=0)
    if regression:
        t = y.reshape(n, -1).astype(np.float64)
        if t.shape[1] != 1 or n < 10 or np.std(t) == 0:
            return []
        Xc, tc = X - X.mean(axis=0), t[:, 0] - t[:, 0].mean()
        with np.errstate(all="ignore"):
            r = (Xc.T @ tc) / (np.linalg.norm(Xc, axis=0) * np.linalg.norm(tc))
        return np.flatnonzero(finite_cols & (np.abs(np.nan_to_num(r)) >= LEAK_CORRELATION)
                              ).tolist()
    labels = y.ravel()
    classes = np.unique(labels)
    if len(classes) < 2 or n < 10 * len(classes):
        return []
    perm = np.random.default_rng(0).permutation(n)
    Xp, yp = X[perm], labels[perm]
    order = np.argsort(Xp, axis=0, kind="stable")
    changes = np.count_nonzero(np.diff(yp[order], axis=0), axis=0)
    return np.flatnonzero(finite_cols & (changes <= len(classes) - 1)).tolist()


def _target_findings(X: np.ndarray, y: np.ndarray, regression: bool, n_classes: int | None,
                     numbers: dict) -> list:
    """NaN/Inf targets, labels out of range, one class, imbalance, and label leaks."""
    numbers["task"] = "regression" if regression else "classification"
    if y.dtype.kind in "fc":
        bad = ~np.isfinite(y)
        rows, _ = _rows_cols(bad) if bad.any() else ([], [])
        numbers["nan_target_rows"] = rows
        if rows:
            return [Finding(f"{int(bad.sum())} NaN/Inf values in y, rows {_first(rows)}",
                            "drop the samples whose target is NaN/Inf, or fix how y was "
                            "computed", BLOCK)]
    out = []
    leaks = _leaking_features(X, y, regression)
    numbers["leaking_features"] = leaks
    if leaks:
        out.append(Finding(f"features {_first(leaks)} give the label away on their own (a "
                           "leak: every class has a range of them no other class enters)",
                           f"remove features {_first(leaks)}: they are computed from the label, "
                           "or from something not known at prediction time", BLOCK))
    if regression:
        yf = y.astype(np.float64)
        numbers.update(target_mean=float(yf.mean()), target_std=float(yf.std()))
        return out
    classes, counts = np.unique(y.ravel(), return_counts=True)
    numbers["class_counts"] = dict(zip(classes.tolist(), counts.tolist()))
    outside = [c for c in classes.tolist() if c != int(c) or c < 0
               or (n_classes is not None and c >= n_classes)]
    numbers["labels_out_of_range"] = outside
    if outside:
        limit = f"0..{n_classes - 1}" if n_classes is not None else "0 and up"
        out.append(Finding(f"labels {_first(outside)} are outside {limit} (the model's classes)",
                           "map the labels to 0..C-1 and give the model one output per class",
                           BLOCK))
    ratio = float(counts.max() / counts.min())
    numbers["imbalance"] = ratio
    if len(classes) < 2:
        out.append(Finding(f"only one class ({classes.tolist()}) in the labels",
                           "check that the labels were loaded correctly", BLOCK))
    elif not IMBALANCE.contains(ratio):
        out.append(Finding(f"classes are imbalanced {ratio:.1f}:1 ({numbers['class_counts']}; "
                           f"{IMBALANCE.healthy()})",
                           "reweight the loss, resample, or report per-class metrics", FAIL))
    return out


def summarize(findings: list, numbers: dict, name: str = "data") -> CheckResult | None:
    """A failed CheckResult for the blocking and failing :class:`Finding` s (each fix once,
    notes after), or None when there are only notes. Sets ``numbers["findings"]``,
    ``numbers["blocking"]`` and ``numbers["notes"]``."""
    numbers["findings"] = list(findings)
    numbers["blocking"] = any(f[2] == BLOCK for f in findings)
    numbers["notes"] = [f[0] for f in findings if f[2] == NOTE]
    bad = [f for f in findings if f[2] != NOTE]
    if not bad:
        return None
    fixes = list(dict.fromkeys(f[1] for f in bad if f[1]))
    message = "; ".join(f[0] for f in bad)
    if numbers["notes"]:
        message += "; normal: " + "; ".join(numbers["notes"])
    return CheckResult(name, False, message, "; ".join(fixes), numbers)


def check_data(X: Any, y: Any = None, task: str = "auto", n_classes: int | None = None,
               image_shape: Any = None) -> CheckResult:
    """NaN/Inf, the input scale, constant features, duplicate rows, the labels, label leaks.

    Blocking (``numbers["blocking"]``: the checklist stops, every later check would inherit
    it): NaN/Inf in X or y, wildly unscaled inputs (band
    :data:`~gradcheck_edu.diagnose.bands.INPUT_SCALE`), labels outside ``0..n_classes-1``,
    a single class, a feature that gives the label away on its own (a leak). Failing without
    hiding the rest: duplicate rows (band ``DUPLICATES``) and class imbalance (``IMBALANCE``).
    Notes, not failures (``numbers["notes"]``): constant features and low-variance features,
    worded for images (border pixels, one shared scale: normal) or tabular data
    (standardization is advice). A ValueError is raised when X is not 2-D or X and y have
    different numbers of rows.

    Parameters
    ----------
    X : array_like, shape (N, D)
    y : array_like, shape (N,) or (N, k), optional
        Class labels or regression targets.
    task : {"auto", "classification", "regression"}
        "auto": targets with fractional values, or several per sample, are regression
        targets; integers are class labels.
    n_classes : int, optional
        The model's number of classes (its outputs): labels must be in ``0..n_classes-1``.
    image_shape : (int, int), False or None
        The rows are images of this shape; False: they are not; None: guessed by
        :func:`image_shape_of`.

    Returns
    -------
    CheckResult
        ``numbers`` holds ``nan_rows``, ``nan_cols``, ``feature_std``, ``feature_mean``,
        ``unscaled``, ``constant``, ``low_variance``, ``duplicates``, ``image_shape``,
        ``findings``, ``blocking``, ``notes``, ``task``, ``leaking_features``, and for class labels
        ``class_counts``, ``labels_out_of_range`` and ``imbalance`` (``target_mean`` and
        ``target_std`` for regression).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((50, 3)); X[4, 1] = np.nan
    >>> r = check_data(X)
    >>> r.passed, r.numbers["nan_rows"], r.numbers["nan_cols"], r.numbers["blocking"]
    (False, [4], [1], True)
    """
    X, y = checked_data(X, y, "check_data")
    X = X.astype(np.float64, copy=False)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got shape {X.shape}")
    shape = image_shape_of(X, image_shape)
    numbers: dict[str, Any] = {"image_shape": shape}
    findings = []
    bad = ~np.isfinite(X)
    rows, cols = _rows_cols(bad) if bad.any() else ([], [])
    numbers.update(nan_rows=rows, nan_cols=cols)
    if rows:
        findings.append(Finding(f"{int(bad.sum())} NaN/Inf values in X, rows {_first(rows)}, "
                                f"columns {_first(cols)}", "drop or impute the NaN/Inf entries "
                                "before training", BLOCK))
    findings += _scale_findings(X, numbers, shape is not None)
    _, first = np.unique(X, axis=0, return_index=True) if X.size else (None, np.arange(0))
    duplicates = X.shape[0] - len(first)
    numbers["duplicates"] = int(duplicates)
    if X.shape[0] and not DUPLICATES.contains(duplicates / X.shape[0]):
        findings.append(Finding(f"{duplicates} duplicate rows ({duplicates / X.shape[0]:.0%}; "
                                f"{DUPLICATES.healthy()})", "remove duplicate rows, or check "
                                "how the data was assembled", FAIL))
    regression = False
    if y is not None:  # checked_data made it an array of one label per row
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        regression = _is_regression(y, task)
        findings += _target_findings(X, y, regression, n_classes, numbers)
    failed = summarize(findings, numbers)
    if failed is not None:
        return failed
    kind = (f"images of {shape[0]}x{shape[1]} pixels" if shape else
            f"rows x {X.shape[1]} features")
    msg = f"{X.shape[0]} {kind}: finite, scaled ({INPUT_SCALE.healthy()})"
    if y is not None and regression:
        msg += (f"; regression targets, mean {numbers['target_mean']:.3g}, std "
                f"{numbers['target_std']:.3g}")
    elif y is not None:
        msg += (f"; {len(numbers['class_counts'])} classes, balance "
                f"{numbers['imbalance']:.1f}:1; no feature gives the label away")
    if numbers["notes"]:
        msg += "; normal: " + "; ".join(numbers["notes"])
    return CheckResult("data", True, msg, "", numbers)


def check_leakage(X_train: Any, X_val: Any) -> CheckResult:
    """Rows that appear in both the training and the validation set (leakage).

    Returns
    -------
    CheckResult named ``"leakage"``; ``numbers`` has ``shared_rows`` and ``val_rows``.

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
                           "split the data once, before any augmentation, and keep the "
                           "validation rows out of training (deduplicate across the split)",
                           numbers)
    return CheckResult("leakage", True, "no validation row appears in the training set", "",
                       numbers)

