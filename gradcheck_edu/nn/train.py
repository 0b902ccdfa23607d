"""A small training loop that records what the debugging checklist needs."""

from __future__ import annotations

import html
import inspect
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["train", "History", "accepts_keyword"]


@dataclass
class History:
    """Per-epoch metrics of a training run.

    ``train_loss`` is the mean mini-batch loss of the epoch (training mode, as the optimizer
    saw it). ``data_loss``, ``reg_loss``, ``train_acc``, ``val_loss``, ``val_acc`` are
    measured on the whole set at the end of the epoch in evaluation mode (no dropout, batch
    norm with its running statistics, nothing in the model updated). ``grad_norms[name]`` and
    ``update_ratios[name]`` (``||delta W|| / ||W||``) are per weight, from the epoch's last
    step. ``step_loss`` is the loss of every step.

    If training stops early, ``stopped_reason`` says why (None: it ran every epoch). An epoch
    cut short by a non-finite loss is recorded with that loss in ``train_loss`` and NaN for
    every other metric of the epoch (the step with the non-finite loss is not taken), so every
    per-epoch list has one entry per epoch run.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    data_loss: list = field(default_factory=list)
    reg_loss: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    grad_norms: dict = field(default_factory=dict)
    update_ratios: dict = field(default_factory=dict)
    stopped_reason: str | None = None

    def as_dict(self) -> dict:
        """Per-epoch metrics as name -> list (``step_loss``, per step, is left out)."""
        out = {k: v for k, v in vars(self).items() if isinstance(v, list) and k != "step_loss"}
        tables = (("grad_norm_", self.grad_norms), ("update_ratio_", self.update_ratios))
        for prefix, table in tables:
            out.update({prefix + k: v for k, v in table.items()})
        return out


def _notebook_display(data: dict):
    """A display handle when running under a Jupyter kernel, else None.

    IPython is imported only if it is already loaded (as it is in every kernel), so a script
    in a terminal never imports it.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
    except Exception:  # a broken or stub IPython: fall back to the terminal
        return None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    from IPython.display import display

    return display(data, raw=True, display_id=True)


class _Progress:
    """One line for the whole run.

    In a notebook: a single output updated in place (an HTML progress bar, plain text for
    other front ends). In a terminal: a line rewritten with ``\\r``. Elsewhere (output to a
    file or a log): only the final line. Updates are at most every ``interval`` seconds; the
    last state is always shown.
    """

    WIDTH = 30

    def __init__(self, total: int, enabled: bool, stream: Any = None, interval: float = 0.1):
        self.total, self.enabled, self.interval = total, enabled, interval
        self.stream = stream if stream is not None else sys.stderr
        self.text, self.epoch, self.shown_at, self.shown_len = "", 0, -math.inf, 0
        self.handle = None
        self.tty = False
        if enabled:
            self.handle = _notebook_display(self._data(""))
            isatty = getattr(self.stream, "isatty", None)
            self.tty = self.handle is None and callable(isatty) and bool(isatty())

    def _line(self) -> str:
        done = self.WIDTH * self.epoch // self.total
        return f"[{'#' * done}{'.' * (self.WIDTH - done)}] {self.text}"

    def _data(self, note: str) -> dict:
        text = self._line() + (f"\n{note}" if note else "")
        bar = (f"<progress value='{self.epoch}' max='{self.total}' style='width: 20em'>"
               f"</progress> <code>{html.escape(self.text)}</code>")
        if note:
            bar += f"<br><code>{html.escape(note)}</code>"
        return {"text/plain": text, "text/html": bar}

    def update(self, epoch: int, loss: float, val_loss: float | None = None) -> None:
        if not self.enabled:
            return
        self.epoch = epoch
        self.text = f"epoch {epoch}/{self.total}  loss {loss:.4f}"
        if val_loss is not None:
            self.text += f"  val {val_loss:.4f}"
        now = time.monotonic()
        if now - self.shown_at < self.interval:
            return
        self.shown_at = now
        if self.handle is not None:
            self.handle.update(self._data(""), raw=True)
        elif self.tty:
            self._rewrite(self._line())
            self.stream.flush()

    def close(self, note: str | None = None) -> None:
        """Show the final state, and ``note`` (why training stopped) on a line of its own."""
        if not self.enabled:
            return
        if self.handle is not None:
            self.handle.update(self._data(note or ""), raw=True)
            return
        lines = [self._line()] if self.epoch else []
        lines += [note] if note else []
        if lines and self.tty:
            self._rewrite(lines.pop(0))
            self.stream.write("\n")
        if lines:
            self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()

    def _rewrite(self, line: str) -> None:
        """Overwrite the terminal line, padding over what is left of a longer one."""
        self.stream.write("\r" + line.ljust(self.shown_len))
        self.shown_len = max(self.shown_len, len(line))


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def accepts_keyword(fn: Any, name: str) -> bool:
    """Whether the callable ``fn`` takes a keyword argument ``name``.

    A duck-typed model's methods may not take ``training`` (or ``return_activations``); the
    training loop and the diagnostics pass such a keyword only when this is True.

    Parameters
    ----------
    fn : callable
    name : str
        The keyword.

    Returns
    -------
    bool
        True when ``fn``'s signature has a parameter ``name`` or a ``**kwargs``; False when it
        has neither or has no signature to read.

    Examples
    --------
    >>> accepts_keyword(lambda X, training=True: X, "training")
    True
    >>> accepts_keyword(lambda X: X, "training"), accepts_keyword(lambda X, **kw: X, "training")
    (False, True)
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _evaluation_kwargs(method: Any) -> dict:
    """``{"training": False}`` if ``method`` takes a ``training`` keyword, else ``{}``."""
    return {"training": False} if accepts_keyword(method, "training") else {}


def _check_data(model: Any, X: Any, y: Any, what: str):
    """The model's own check (``check_input``) if it has one, else the row counts."""
    check = getattr(model, "check_input", None)
    if callable(check):
        X, y = check(X, y)
    else:
        X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(f"{what}: X has shape {X.shape} but y has shape {y.shape}; they need "
                         "one row per sample")
    if X.shape[0] == 0:
        raise ValueError(f"{what}: no samples")
    return X, y


def train(model: Any, X: Any, y: Any, optimizer: Any, epochs: int = 10, batch_size: int = 32,
          X_val: Any = None, y_val: Any = None, seed: int = 0, progress: bool = True,
          callbacks: Any = ()) -> History:
    """Mini-batch training of ``model`` with ``optimizer``; returns a :class:`History`.

    Parameters
    ----------
    model
        Needs ``params`` and ``loss_and_grads(X, y)``; the metrics use ``loss_parts``,
        ``loss`` and ``accuracy`` when it has them, with ``training=False`` when they take that
        keyword (an :class:`~gradcheck_edu.nn.MLP` does), so measuring never updates the
        model. A model's ``check_input(X, y)``, if present, checks all the data first.
    optimizer
        Needs ``step(params, grads)``.
    epochs, batch_size : int
        Positive. The last batch of an epoch may be smaller.
    X_val, y_val : array_like, optional
        Validation data (both or neither).
    seed : int
        For the order of the samples in each epoch.
    progress : bool
        Show a progress line: updated in place in a terminal and in a notebook.
    callbacks : sequence of callables
        Each is called as ``callback(epoch, history, model)`` after every epoch; if any returns
        a true value, training stops after that epoch.

    Training also stops if the loss becomes NaN or Inf (the step is not taken); see
    ``History.stopped_reason``.
    """
    for attr in ("params", "loss_and_grads"):
        if not hasattr(model, attr):
            raise TypeError(f"train needs a model with .params and .loss_and_grads(X, y); "
                            f"this {type(model).__name__} has no .{attr}")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"train needs an optimizer with step(params, grads), got "
                        f"{type(optimizer).__name__}: e.g. train(model, X, y, SGD(lr=0.1)). "
                        "The order is train(model, X, y, optimizer)")
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables cb(epoch, history, model), got {cb!r}")
    X, y = _check_data(model, X, y, "training data")
    if X_val is not None:
        X_val, y_val = _check_data(model, X_val, y_val, "validation data")
    n = X.shape[0]
    n_batches = -(-n // batch_size)
    smallest = n % batch_size or min(n, batch_size)
    check = getattr(model, "check_input", None)
    if callable(check) and accepts_keyword(check, "training"):
        try:  # what training mode needs of a batch (batch norm: 2 samples), before any step
            check(X[:smallest], y[:smallest], training=True)
        except ValueError as err:
            raise ValueError(f"{n} samples in batches of {batch_size} leave a batch of "
                             f"{smallest}: {err}. Choose another batch_size") from None
    rng = np.random.default_rng(seed)
    hist = History()
    weights = [k for k in model.params if k.startswith("W")]
    has_acc = hasattr(model, "accuracy") and getattr(model, "loss_name", "") != "mse"
    has_parts = hasattr(model, "loss_parts")
    parts_kw = _evaluation_kwargs(model.loss_parts) if has_parts else {}
    loss_kw = _evaluation_kwargs(model.loss) if X_val is not None else {}
    bar = _Progress(epochs, progress)
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n)
            losses = []
            for b in range(n_batches):
                idx = order[b * batch_size:(b + 1) * batch_size]
                loss, grads = model.loss_and_grads(X[idx], y[idx])
                loss = float(loss)
                losses.append(loss)
                hist.step_loss.append(loss)
                if not np.isfinite(loss):
                    hist.stopped_reason = (f"the loss became {loss} at epoch {epoch}, batch "
                                           f"{b + 1} of {n_batches}; that step was not taken")
                    break
                if b == n_batches - 1:  # the epoch's last step: gradient norms, update ratios
                    norms = {k: float(np.linalg.norm(grads[k])) for k in weights}
                    before = {k: model.params[k].copy() for k in weights}
                optimizer.step(model.params, grads)
            hist.train_loss.append(float(np.mean(losses)))
            stopped = hist.stopped_reason is not None
            for k in weights:
                if stopped:
                    norm = ratio = math.nan
                else:
                    norm = norms[k]
                    w = np.linalg.norm(before[k])
                    ratio = float(np.linalg.norm(model.params[k] - before[k]) / w) if w > 0 \
                        else math.inf
                hist.grad_norms.setdefault(k, []).append(norm)
                hist.update_ratios.setdefault(k, []).append(ratio)
            _record_metrics(hist, model, X, y, X_val, y_val, stopped, has_acc, has_parts,
                            parts_kw, loss_kw)
            bar.update(epoch, hist.train_loss[-1], hist.val_loss[-1] if hist.val_loss else None)
            if stopped:
                break
            asked = [cb for cb in callbacks if cb(epoch, hist, model)]  # every callback runs
            if asked:
                name = getattr(asked[0], "__name__", repr(asked[0]))
                hist.stopped_reason = f"callback {name} stopped training after epoch {epoch}"
                break
    finally:
        bar.close(hist.stopped_reason)
    return hist


def _record_metrics(hist: History, model: Any, X, y, X_val, y_val, stopped: bool,
                    has_acc: bool, has_parts: bool, parts_kw: dict, loss_kw: dict) -> None:
    """The end-of-epoch metrics, in evaluation mode; NaN for an epoch cut short."""
    nan = math.nan
    if has_parts:
        data, reg = (nan, nan) if stopped else model.loss_parts(X, y, **parts_kw)
        hist.data_loss.append(float(data))
        hist.reg_loss.append(float(reg))
    if has_acc:
        hist.train_acc.append(nan if stopped else float(model.accuracy(X, y)))
    if X_val is not None:
        hist.val_loss.append(nan if stopped else float(model.loss(X_val, y_val, **loss_kw)))
        if has_acc:
            hist.val_acc.append(nan if stopped else float(model.accuracy(X_val, y_val)))
