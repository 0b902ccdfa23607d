"""A zoo of realistic hand-written-backprop bugs, to be found with the gradient checker.

>>> import numpy as np
>>> import gradcheck_edu as ge
>>> from gradcheck_edu.nn import MLP
>>> model = MLP([3, 5, 4], activation="tanh", seed=0)
>>> X, y = np.random.default_rng(0).standard_normal((8, 3)), np.arange(8) % 4
>>> buggy = inject(model, "bias_grad_wrong_axis")
>>> report = ge.check_model(buggy, X, y)
>>> report.passed, report.worst(1)[0].name
(False, 'b1')
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .nn.layers import Linear
from .nn.losses import LOSSES

__all__ = ["Bug", "Need", "Requirements", "catalog", "find", "inject", "make_model"]


@dataclass(frozen=True)
class Need:
    """What a bug needs of one MLP keyword, e.g. ``l2 > 0``.

    Attributes
    ----------
    condition : str
        The condition, as a student would write it (``"l2 > 0"``).
    example : object
        A value of the keyword that meets it (what :func:`make_model` uses).
    test : callable
        ``test(value) -> bool`` on the model's value of the keyword.
    """

    condition: str
    example: Any
    test: Callable[[Any], bool] = field(compare=False)

    def __repr__(self) -> str:
        return self.condition


class Requirements(dict):
    """MLP keyword -> :class:`Need`; prints as the conditions (``l2 > 0``)."""

    def __repr__(self) -> str:
        return ", ".join(map(repr, self.values())) if self else "{}"


# The model attribute that holds each MLP keyword's value.
_ATTRIBUTE = {"loss": "loss_name"}


def _equal(keyword: str, value: Any) -> Requirements:
    return Requirements({keyword: Need(f"{keyword}={value!r}", value, lambda v: v == value)})


def _positive(keyword: str, example: float) -> Requirements:
    return Requirements({keyword: Need(f"{keyword} > 0", example,
                                       lambda v: v is not None and v > 0)})


def _has_square_layer(sizes) -> bool:
    return sizes is not None and any(a == b for a, b in zip(sizes[1:-1], sizes[2:]))


@dataclass(frozen=True)
class Bug:
    """One bug of the zoo.

    Attributes
    ----------
    name : str
    description : str
        What the student wrote, and what it should have been.
    requires : Requirements (a dict)
        MLP keyword -> :class:`Need`: what a model needs to show the bug, e.g. ``l2 > 0``.
        :func:`inject` checks it; :func:`make_model` builds a model that meets it (from each
        ``Need.example``).
    corrupts : tuple of str
        The parameters whose gradients the bug makes wrong, in the model
        ``make_model(bug)`` builds; ``corrupted_params(model)`` gives them for any model.
    expected_pattern : str
        The kind of pattern (:func:`gradcheck_edu.patterns.read_pattern`) the bug leaves in the
        corrupted parameters: every one of them large enough to read reads this kind, or
        ``"unknown"`` (a bug whose wrong ``dx`` is mixed by the layers below it leaves no simple
        pattern there). Measured by tests/test_patterns.py over seeds and model shapes.
    """

    name: str
    description: str
    requires: dict = field(default_factory=Requirements)
    where: Callable[[Any], tuple] = field(default=lambda model: tuple(model.params),
                                          repr=False, compare=False)
    expected_pattern: str = "unknown"

    def corrupted_params(self, model: Any) -> tuple:
        """The names of the parameters of ``model`` whose gradients this bug makes wrong."""
        return tuple(self.where(model))

    @property
    def corrupts(self) -> tuple:
        return self.corrupted_params(make_model(self))

    def unmet(self, model: Any) -> list[str]:
        """The conditions of ``requires`` that ``model`` does not meet."""
        out = []
        for keyword, need in self.requires.items():
            value = getattr(model, _ATTRIBUTE.get(keyword, keyword), None)
            if not need.test(value):
                out.append(f"{need.condition} (it has {keyword}={value!r})")
        return out


def _linears(model) -> list:
    return [layer for layer in model.layers if isinstance(layer, Linear)]


def _first(model, cls_name: str):
    return next(layer for layer in model.layers if type(layer).__name__ == cls_name)


def _square_linear(model):
    return next(layer for layer in _linears(model)[1:]
                if layer.params["W"].shape[0] == layer.params["W"].shape[1])


def _name_of(model, array) -> str:
    """The key of ``array`` in ``model.params``."""
    return next(k for k, v in model.params.items() if v is array)


def _params_of(model, layers) -> tuple:
    """The names in ``model.params`` of the parameters of ``layers``, in the model's order."""
    arrays = [p for layer in layers for p in layer.params.values()]
    return tuple(k for k, v in model.params.items() if any(v is p for p in arrays))


def _upstream_of(layer_of: Callable) -> Callable:
    """Corrupted: every parameter before the layer whose wrong ``dx`` flows back into them."""
    def where(model):
        layer = layer_of(model)
        i = next(i for i, item in enumerate(model.layers) if item is layer)
        return _params_of(model, model.layers[:i])
    return where


def _all_weights(model) -> tuple:
    return tuple(k for k in model.params if k.startswith("W"))


# Each patch receives the copied model and changes one method, as a student's code would.
def _missing_1_over_m(model):
    fn = LOSSES[model.loss_name]

    def loss_fn(out, y):
        loss, dout = fn(out, y)
        return loss, dout * out.shape[0]  # forgot to divide by the batch size m
    model.loss_fn = loss_fn


def _bias_grad_wrong_axis(model):
    lin = _linears(model)[0]

    def backward(self, dout):
        self.grads["W"][...] = self.x.T @ dout
        self.grads["b"][...] = dout.sum()  # summed over every axis, not just the batch
        return dout @ self.params["W"].T
    lin.backward = types.MethodType(backward, lin)


def _sigmoid_derivative_at_input(model):
    layer = _first(model, "Sigmoid")
    forward = layer.forward

    def fwd(self, x, training=True):
        self.x = x
        return forward(x, training)

    def backward(self, dout):
        return dout * self.x * (1 - self.x)  # s'(z) taken at z, not s(z) (1 - s(z))
    layer.forward = types.MethodType(fwd, layer)
    layer.backward = types.MethodType(backward, layer)


def _softmax_no_onehot(model):
    fn = LOSSES["softmax_cross_entropy"]

    def loss_fn(out, y):
        loss, _ = fn(out, y)
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        p = shifted / shifted.sum(axis=1, keepdims=True)
        return loss, p / out.shape[0]  # forgot to subtract the one-hot labels
    model.loss_fn = loss_fn


def _l2_missing_in_gradient(model):
    loss_and_grads = model.loss_and_grads

    def patched(X, y):
        loss, grads = loss_and_grads(X, y)
        for k in grads:
            if k.startswith("W"):
                grads[k] -= model.l2 * model.params[k]  # the l2 * W term left out
        return loss, grads
    model.loss_and_grads = patched


def _dropout_mask_not_in_backward(model):
    layer = _first(model, "Dropout")
    layer.backward = types.MethodType(lambda self, dout: dout, layer)  # mask forgotten


def _wrong_transpose(model):
    lin = _square_linear(model)

    def backward(self, dout):
        self.grads["W"][...] = self.x.T @ dout
        self.grads["b"][...] = dout.sum(axis=0)
        return dout @ self.params["W"]  # W, not W.T: the shapes fit in a square layer
    lin.backward = types.MethodType(backward, lin)


def _sign_error(model):
    lin = _linears(model)[-1]

    def backward(self, dout):
        self.grads["W"][...] = -(self.x.T @ dout)  # a minus sign too many
        self.grads["b"][...] = dout.sum(axis=0)
        return dout @ self.params["W"].T
    lin.backward = types.MethodType(backward, lin)


def _tanh_derivative_not_squared(model):
    layer = _first(model, "Tanh")
    layer.backward = types.MethodType(lambda self, dout: dout * (1 - self.out), layer)


def _relu_mask_from_gradient(model):
    layer = _first(model, "ReLU")
    layer.backward = types.MethodType(lambda self, dout: dout * (dout > 0), layer)


def _batchnorm_stats_as_constants(model):
    layer = _first(model, "BatchNorm1d")

    def backward(self, dout):
        self.grads["gamma"][...] = np.sum(dout * self.xhat, axis=0)
        self.grads["beta"][...] = dout.sum(axis=0)
        return dout * self.params["gamma"] * self.inv_std  # mean and var treated as constants
    layer.backward = types.MethodType(backward, layer)


_SOFTMAX = _equal("loss", "softmax_cross_entropy")

_BUGS = [
    (Bug("missing_1_over_m", "dL/dout = p - onehot(y), not (p - onehot(y)) / m: every gradient "
         "is m times too large", expected_pattern="scale"), _missing_1_over_m),
    (Bug("bias_grad_wrong_axis", "db = dout.sum() over every axis instead of dout.sum(axis=0): "
         "each bias gets the total", Requirements(),
         lambda m: (_name_of(m, _linears(m)[0].params["b"]),)),
     _bias_grad_wrong_axis),
    (Bug("sigmoid_derivative_at_input", "sigmoid backward uses z (1 - z) at the input z instead "
         "of s (1 - s) at the output", _equal("activation", "sigmoid"),
         _upstream_of(lambda m: _first(m, "Sigmoid"))), _sigmoid_derivative_at_input),
    (Bug("softmax_no_onehot", "softmax gradient p / m without subtracting the one-hot labels",
         _SOFTMAX), _softmax_no_onehot),
    (Bug("l2_missing_in_gradient", "the loss has l2/2 ||W||^2 but the gradient lacks l2 * W",
         _positive("l2", 0.5), _all_weights, "regularization"), _l2_missing_in_gradient),
    (Bug("dropout_mask_not_in_backward", "dropout backward returns dout instead of dout * mask",
         _positive("dropout", 0.5), _upstream_of(lambda m: _first(m, "Dropout"))),
     _dropout_mask_not_in_backward),
    (Bug("wrong_transpose", "dx = dout @ W instead of dout @ W.T in a square layer (the shapes "
         "fit, the numbers don't)",
         Requirements(layer_sizes=Need("layer_sizes with two equal sizes in a row after the "
                                       "inputs (a square layer)", [3, 6, 6, 4],
                                       _has_square_layer)),
         _upstream_of(_square_linear)), _wrong_transpose),
    (Bug("sign_error", "dW = -x.T @ dout in the output layer", Requirements(),
         lambda m: (_name_of(m, _linears(m)[-1].params["W"]),), "sign"), _sign_error),
    (Bug("tanh_derivative_not_squared", "tanh backward uses 1 - tanh(x) instead of "
         "1 - tanh(x)^2", _equal("activation", "tanh"),
         _upstream_of(lambda m: _first(m, "Tanh"))), _tanh_derivative_not_squared),
    (Bug("relu_mask_from_gradient", "ReLU backward masks with dout > 0 instead of x > 0",
         _equal("activation", "relu"), _upstream_of(lambda m: _first(m, "ReLU"))),
     _relu_mask_from_gradient),
    (Bug("batchnorm_stats_as_constants", "batch-norm backward ignores that the batch mean and "
         "variance depend on x", _equal("batchnorm", True),
         _upstream_of(lambda m: _first(m, "BatchNorm1d")), "zero"), _batchnorm_stats_as_constants),
]
_PATCHES = {bug.name: patch for bug, patch in _BUGS}


def catalog() -> list[Bug]:
    """Every bug of the zoo.

    >>> [bug.name for bug in catalog()][:3]
    ['missing_1_over_m', 'bias_grad_wrong_axis', 'sigmoid_derivative_at_input']
    """
    return [bug for bug, _ in _BUGS]


def make_model(bug: Bug | str, seed: int = 0, **overrides: Any):
    """A correct MLP configured to show ``bug`` (tanh unless the bug needs another activation).

    Layer sizes default to ``[3, 6, 4]``; an example value for each of the bug's ``requires``
    and then ``overrides`` apply on top.
    """
    from .nn.model import MLP

    bug = find(bug)
    kwargs: dict[str, Any] = {"layer_sizes": [3, 6, 4], "activation": "tanh", "seed": seed}
    kwargs.update({keyword: need.example for keyword, need in bug.requires.items()})
    kwargs.update(overrides)
    sizes = kwargs.pop("layer_sizes")
    return MLP(sizes, **kwargs)


def find(bug: Bug | str) -> Bug:
    """The :class:`Bug` of the zoo named ``bug`` (a ``Bug`` is returned as it is).

    >>> print(find("wrong_transpose").name)
    wrong_transpose

    Raises
    ------
    ValueError
        No bug has that name; the message points to :func:`catalog`.
    """
    name = bug.name if isinstance(bug, Bug) else bug
    for item in catalog():
        if item.name == name:
            return item
    raise ValueError(f"no bug named {name!r}; see catalog() for the names")


def inject(model: Any, name: str, strict: bool = True):
    """A copy of ``model`` with bug ``name`` in its backprop; ``model`` itself is untouched.

    The copy's dropout masks are frozen, so it can be gradient-checked with dropout on.

    Parameters
    ----------
    strict : bool
        Check that ``model`` meets ``Bug.requires`` (else the bug could not show, or would
        break the model in another way). ``strict=False`` skips the check, to show that a bug
        hides in a model without what it needs (say, ``l2_missing_in_gradient`` at ``l2=0``).

    Raises
    ------
    ValueError
        Unknown bug, or a model without what the bug needs (see ``Bug.requires``).
    """
    bug = find(name)
    unmet = bug.unmet(model) if strict else []
    if unmet:
        example = ", ".join(f"{k}={need.example!r}" for k, need in bug.requires.items())
        raise ValueError(f"bug {bug.name!r} needs {'; '.join(unmet)}: build the model with "
                         f"MLP(..., {example}), or use make_model({bug.name!r})")
    buggy = copy.deepcopy(model)
    try:
        _PATCHES[bug.name](buggy)
    except StopIteration:
        raise ValueError(f"bug {bug.name!r} needs a model with {bug.requires}; build one with "
                         f"make_model({bug.name!r})") from None
    if hasattr(buggy, "freeze_dropout"):
        buggy.freeze_dropout(0)
    return buggy
