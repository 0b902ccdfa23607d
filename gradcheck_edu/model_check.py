"""Gradient checks of a layer's backward and of a whole model, with their state restored."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arguments import analytic_flat, check_arguments
from .check import build_report, sample_indices
from .finite_diff import Estimate, make_target
from .report import GradientCheckReport
from .stencils import AUTO, resolve_eps
from .verdicts import DEFAULT_THRESHOLDS

__all__ = ["check_layer", "check_model", "batch_size_names"]


def _snapshot(obj: Any) -> dict:
    """Copies of the arrays an object (and its list of layers) holds, to undo side effects."""
    saved: dict = {}
    if not hasattr(obj, "__dict__"):
        return saved
    for name, value in vars(obj).items():
        if isinstance(value, np.ndarray):
            saved[name] = (value, value.copy())
        elif isinstance(value, dict):
            saved[name] = (value, {k: (v, v.copy() if isinstance(v, np.ndarray) else None)
                                   for k, v in value.items()})
        elif isinstance(value, list) and all(hasattr(v, "__dict__") for v in value):
            saved[name] = (value, [(v, _snapshot(v)) for v in value])
        else:
            saved[name] = (value, None)
    return saved


def _restore(obj: Any, saved: dict) -> None:
    if not hasattr(obj, "__dict__"):
        return
    for name in list(vars(obj)):
        if name not in saved:
            delattr(obj, name)
    for name, (value, copy) in saved.items():
        setattr(obj, name, value)
        if isinstance(value, np.ndarray):
            np.copyto(value, copy)
        elif isinstance(value, dict) and copy is not None:
            value.clear()
            for k, (v, c) in copy.items():
                if c is not None:
                    np.copyto(v, c)
                value[k] = v
        elif isinstance(value, list) and copy is not None:
            for item, item_saved in copy:
                _restore(item, item_saved)


def _grads_of(model: Any, X: Any, y: Any) -> dict:
    """``model.loss_and_grads(X, y)``'s gradient dict, with the usual mistakes named."""
    try:
        result = model.loss_and_grads(X, y)
    except (ValueError, IndexError, TypeError) as err:
        if np.ndim(X) < np.ndim(y):
            raise ValueError(
                f"model.loss_and_grads(X, y) failed ({type(err).__name__}: {err}) with X of "
                f"shape {np.shape(X)} and y of shape {np.shape(y)}: did you swap X and y? The "
                "order is check_model(model, X, y), inputs first") from err
        raise
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"model.loss_and_grads(X, y) must return (loss, grads), a pair; it "
                        f"returned a {type(result).__name__}")
    loss, grads = result
    if isinstance(loss, dict) and not isinstance(grads, dict):
        raise TypeError("model.loss_and_grads(X, y) returned (grads, loss): it must return "
                        "(loss, grads), the loss first")
    if not isinstance(grads, dict):
        raise TypeError(f"model.loss_and_grads(X, y) must return (loss, grads) with grads a "
                        f"dict keyed like model.params; its second item is a "
                        f"{type(grads).__name__}")
    return grads


def batch_size_names(x: Any) -> dict:
    """``{"the batch size": N}`` for a batch of N rows, the size a factor is first named by."""
    shape = np.shape(x)
    return {"the batch size": int(shape[0])} if len(shape) >= 1 and shape[0] > 1 else {}


def check_layer(layer: Any, x: Any, eps: float | str | None = AUTO, method: str = "central",
                seed: Any = 0, thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
                ) -> GradientCheckReport:
    """Gradient-check a layer's ``backward``: the input gradient and every parameter's.

    The layer needs ``forward(x) -> out``, ``backward(dout) -> dx`` that fills ``grads``, and
    dicts ``params`` and ``grads`` with the same keys (empty for a layer without parameters).
    With a random upstream gradient ``dout``, the scalar ``L = sum(forward(x) * dout)`` has
    gradient ``dx`` with respect to ``x`` and ``grads[k]`` with respect to ``params[k]``.

    Parameters
    ----------
    layer : object
        The layer to check; its state is restored afterwards.
    x : array_like
        A batch of inputs. Avoid inputs that make a gradient vanish by symmetry (all equal
        rows, say): a zero gradient cannot tell a right backward from one that returns zeros.
    eps, method, thresholds
        As for :func:`gradient_check`.
    seed : int, Generator or None
        For the random upstream gradient ``dout``. An int seeds a stream of its own, so
        ``dout`` never equals an ``x`` drawn from ``np.random.default_rng(seed)``.

    Returns
    -------
    GradientCheckReport
        Rows named ``"x"`` and the parameter keys. The layer's arrays (parameters, gradients,
        caches, running statistics) are as before the check, and ``x`` is not modified.
    """
    for attr in ("forward", "backward"):
        if not callable(getattr(layer, attr, None)):
            swapped = callable(getattr(x, "forward", None))
            raise TypeError(f"check_layer needs a layer with a {attr}() method, but its first "
                            f"argument is a {type(layer).__name__}"
                            + (". The order is check_layer(layer, x): did you swap them?"
                               if swapped else ""))
    params = getattr(layer, "params", {})
    if not isinstance(params, dict):
        raise TypeError("layer.params must be a dict of arrays (empty if it has none)")
    if "x" in params:
        raise ValueError("layer.params has a key 'x', which check_layer uses for the input")
    x = np.array(x, dtype=np.float64)  # a copy: the caller's x is never touched
    # dout comes from its own stream: drawn from default_rng(seed) itself, it would equal an x
    # the caller drew with the same seed and shape, and for batch norm dx is then exactly 0.
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(
        None if seed is None else np.random.SeedSequence([int(seed), 0x646F7574]))
    saved = _snapshot(layer)
    try:
        out = layer.forward(x)
        dout = rng.standard_normal(np.shape(out))
        dx = layer.backward(dout)
        grads = getattr(layer, "grads", {})
        if set(grads) != set(params):
            raise ValueError(f"after backward, layer.grads has keys {sorted(grads)} but "
                             f"layer.params has {sorted(params)}; fill one gradient per parameter")
        if dx is None:
            raise ValueError("backward(dout) returned None; it must return dx, the gradient "
                             "with respect to the layer's input")
        analytic = {"x": np.array(dx, dtype=np.float64)}
        analytic.update({k: np.array(grads[k], dtype=np.float64) for k in params})
        theta = {"x": x, **params}

        def f(th: dict) -> float:
            return float(np.sum(layer.forward(th["x"]) * dout))

        check_arguments(f, analytic, theta, call="check_layer")  # as gradient_check does
        target = make_target(f, theta, method)
        eps = resolve_eps(eps, [np.asarray(v).dtype for v in params.values()])
        est = Estimate(target, eps, method)
        return build_report(est, analytic_flat(analytic, theta, spec=target.spec), eps,
                            thresholds,
                            sizes=batch_size_names(x),
                            path="generic: sum(layer.forward(x) * dout) at each perturbed point")
    finally:
        _restore(layer, saved)


def check_model(model: Any, X: Any, y: Any, eps: float | str | None = AUTO,
                method: str = "central",
                n_samples: int | None = None, seed: Any = None,
                thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS,
                fast: bool | str = "auto") -> GradientCheckReport:
    """Gradient-check every parameter of a model on a batch ``(X, y)``.

    Works with any object that has ``params`` (a dict of float arrays that the model reads in
    place), ``loss(X, y) -> float`` and ``loss_and_grads(X, y) -> (float, dict of gradients)``;
    the checker never imports a particular model class. Rows are named by the keys of
    ``params`` (``W1``, ``b1``, ...). The model's arrays are as before the check.

    Parameters
    ----------
    fast : {"auto", True, False}
        A model that describes its dense layers with ``layer_structure()`` (see
        :mod:`gradcheck_edu.layered`) can be checked with the structure-aware path: the same
        central differences and steps, computed with cached activations and rank-1 updates, in a
        fraction of the time (about 0.05 x 2n loss evaluations for MLP([64, 128, 128, 10])).
        ``"auto"`` uses it when the model offers it (float64 parameters, ``method="central"``)
        and it reproduces ``model.loss``, ``False`` always uses the generic path (one
        ``model.loss`` call per perturbation, the reference), ``True`` requires the fast path
        and raises a ValueError that says why when it cannot be used.

    Notes
    -----
    The structure-aware path computes the loss of the network the model *describes*. It is used
    only if that loss equals ``model.loss`` at the parameters and, for each parameter, at
    ``theta +- h e_k`` for the component with the largest change and one random component (4
    extra loss evaluations per parameter): a model whose ``params["W1"]`` is no longer the array
    its layer reads is checked by the generic path, which shows ``W1`` WRONG.

    The two paths agree to the round-off of the generic one: it subtracts two float64 losses,
    whose rounding (about ``0.3 EPS |L| / eps`` per component, rms) is 1e-8 to 1e-7 of the
    gradient on MLP([64, 128, 128, 10]) at ``eps=1e-6``, while the structure-aware path forms
    its changes from the increments and is within 5e-11 of the exact central difference.
    Each path is judged by its own round-off (the structure-aware one's is taken as 1e-2 of the
    generic one's, :data:`~gradcheck_edu.layered.path.STRUCTURED_ROUNDOFF`), so where the
    generic path's round-off decides a small gradient's verdict (ACCEPTABLE, with the number
    in its note), the structure-aware path can rate it better; pass or fail agree.
    """
    for attr in ("params", "loss", "loss_and_grads"):
        if not hasattr(model, attr):
            raise TypeError(f"check_model needs a model with .params, .loss(X, y) and "
                            f".loss_and_grads(X, y); this one has no .{attr}")
    if fast not in ("auto", True, False):
        raise ValueError(f"fast must be 'auto', True or False, got {fast!r}")
    saved = _snapshot(model)
    try:
        grads = _grads_of(model, X, y)
        eps = resolve_eps(eps, [np.asarray(v).dtype for v in model.params.values()])
        missing = [k for k in model.params if k not in grads]
        if missing:
            raise ValueError(f"loss_and_grads returned no gradient for {missing}; it must return "
                             f"one per parameter, with the keys of .params")
        grads = {k: np.asarray(grads[k], dtype=np.float64) for k in model.params}
        a_flat = analytic_flat(grads, model.params)  # a copy: the model's buffers may change
        del grads
        indices = sample_indices(a_flat.size, n_samples, seed)

        def f(_params: Any) -> float:
            return model.loss(X, y)

        est, why_not = None, ""
        if fast:
            from .layered.path import structured_estimate  # loaded only when used

            est, why_not = structured_estimate(model, f, X, y, eps, method, indices,
                                             strict=fast is True)
            if est is None and fast is True:
                low = sorted(k for k, v in model.params.items()
                             if np.asarray(v).dtype != np.float64)
                why = (f"method={method!r}: it computes central differences only"
                       if method != "central" else
                       f"parameters {low} are not float64" if low else
                       "model.layer_structure() is missing, or no longer matches model.loss")
                raise ValueError(f"fast=True cannot be used: {why}. Use fast='auto' to fall "
                                 "back to the generic path")
        if est is None:
            est = Estimate(make_target(f, model.params, method), eps, method, indices)
        sizes = batch_size_names(X)
        widths = getattr(model, "layer_sizes", None)
        if isinstance(widths, (list, tuple)) and all(isinstance(w, int) for w in widths):
            sizes.update({f"the width of layer {i}": w for i, w in enumerate(widths)
                          if w not in sizes.values()})
        if est.roundoff_scale < 1:
            path = ("structure-aware (gradcheck_edu.layered): model.layer_structure() describes "
                    "the network and reproduces model.loss")
        else:
            path = "generic: model.loss at each perturbed point" + (
                " (fast=False)" if fast is False else "; the structure-aware path " + (
                    "was refused, see the note" if why_not else "does not apply (no usable "
                    "model.layer_structure(), float64 parameters and method='central' needed)"))
        report = build_report(est, a_flat, eps, thresholds, sizes, path=path)
        if why_not:  # say why the structure-aware path was not used: it points at the bug
            report.note = f"{why_not}; checked with the generic path" + (
                f"; {report.note}" if report.note else "")
        return report
    finally:
        _restore(model, saved)

