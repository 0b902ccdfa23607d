"""A from-scratch multilayer perceptron with hand-written backprop."""

from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import Any

import numpy as np

from .layers import BatchNorm1d, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .losses import LOSSES

__all__ = ["MLP", "ACTIVATIONS"]

OUTPUT_GAIN = 0.1  # the output layer starts small: initial loss near chance

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP:
    """Dense network ``Linear -> [BatchNorm1d] -> activation -> [Dropout] -> ... -> Linear``.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[inputs, hidden..., outputs]``, e.g. ``[2, 100, 3]``.
    activation : {"relu", "leaky_relu", "tanh", "sigmoid"}
        Hidden activation. Weights use He init for (leaky) ReLU, Xavier for tanh and sigmoid;
        the output layer's are 10x smaller (``OUTPUT_GAIN``), so the outputs start near zero
        and the initial loss near the loss at chance (-ln(1/C) for C classes), as the course
        notes advise ("init well"). At full He scale the initial loss of a ReLU classifier on
        standardized data is often 1.5 to 5 times that.
    loss : {"softmax_cross_entropy", "binary_cross_entropy", "mse"}
    l2 : float
        Total loss = mean data loss + ``l2 / 2 * sum ||W||_F^2`` over weights (not biases).
    dropout : float
        Dropout probability after each hidden activation (0: no dropout layers).
    batchnorm : bool
        Batch normalization before each hidden activation.
    seed : int
    dtype : np.float64 or np.float32
        Parameters and computation stay in this dtype.

    Attributes
    ----------
    layers : list
        The layers in order.
    params : OrderedDict
        ``W1, b1, [gamma1, beta1], W2, b2, ...``: the layers' own arrays (perturbing
        ``params["W1"][0, 0]`` in place changes the model).

    Notes
    -----
    ``loss`` and ``loss_and_grads`` run in training mode (dropout and batch statistics
    active) unless ``loss(..., training=False)``; ``predict`` and ``accuracy`` run in
    evaluation mode. Every method checks its data first: bad input raises a ValueError and
    leaves the model unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> model = MLP([2, 5, 3], activation="tanh", seed=0)
    >>> list(model.params)
    ['W1', 'b1', 'W2', 'b2']
    >>> X, y = np.ones((4, 2)), np.array([0, 1, 2, 0])
    >>> loss, grads = model.loss_and_grads(X, y)
    >>> grads["W1"].shape
    (2, 5)
    """

    def __init__(self, layer_sizes, activation: str = "relu",
                 loss: str = "softmax_cross_entropy", l2: float = 0.0, dropout: float = 0.0,
                 batchnorm: bool = False, seed: int = 0, dtype: Any = np.float64):
        sizes = _layer_sizes(layer_sizes)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
        l2, dropout = _real("l2", l2), _real("dropout", dropout)
        if not l2 >= 0:
            raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout}")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be a float dtype (np.float64 or np.float32), got "
                            f"{dtype!r}") from None
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a float dtype (np.float64 or np.float32), got "
                            f"{dtype}: the gradients and the checks need real numbers")
        self.layer_sizes, self.activation, self.loss_name = sizes, activation, loss
        self.l2, self.dropout, self.batchnorm = l2, dropout, bool(batchnorm)
        self.dtype = dtype
        self.loss_fn = LOSSES[loss]
        rng = np.random.default_rng(seed)
        init = "he" if activation in ("relu", "leaky_relu") else "xavier"
        self.layers: list = []
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        # parameter name -> (layer, key): gradients are read from the layer when asked for, so
        # a backward that rebinds self.grads["W"] = ... (as CS231n's layers do) is seen
        self._grad_of: dict[str, tuple[Any, str]] = {}
        n_linear = len(sizes) - 1
        for k in range(1, n_linear + 1):
            gain = OUTPUT_GAIN if k == n_linear else 1.0
            lin = Linear(sizes[k - 1], sizes[k], init=init, rng=rng, dtype=self.dtype, gain=gain)
            self._add(lin, {"W": f"W{k}", "b": f"b{k}"})
            if k < n_linear:
                if batchnorm:
                    self._add(BatchNorm1d(sizes[k], dtype=self.dtype),
                              {"gamma": f"gamma{k}", "beta": f"beta{k}"})
                # ReLU in place: it overwrites the output of the layer before it, which nothing
                # else keeps (Linear keeps its input, BatchNorm1d its xhat)
                act = ACTIVATIONS[activation]
                self.layers.append(act(inplace=True) if act is ReLU else act())
                if dropout > 0:
                    self.layers.append(Dropout(dropout, rng=rng.integers(2**32)))

    def _add(self, layer, names: dict[str, str]) -> None:
        self.layers.append(layer)
        for key, name in names.items():
            self.params[name] = layer.params[key]
            self._grad_of[name] = (layer, key)

    def __repr__(self) -> str:
        return f"MLP({self.layer_sizes}, activation={self.activation!r}, loss={self.loss_name!r})"

    # ------------------------------------------------------------------ checks of the input
    def check_input(self, X: Any, y: Any = None, training: bool = False):
        """``X`` (and ``y``) as this model uses them, or a ValueError that says what is wrong.

        Every method that takes data checks it with this before touching the model, so bad
        input leaves the model (parameters, batch-norm statistics, dropout streams) unchanged.

        Parameters
        ----------
        X : array_like, shape (N, inputs)
            Finite numbers.
        y : array_like, optional
            Integer class labels in ``[0, outputs)`` of shape (N,) for softmax cross-entropy;
            targets of shape (N, outputs) otherwise (in ``[0, 1]`` for binary cross-entropy;
            shape (N,) is accepted for one output).
        training : bool
            Also check what training mode needs (batch norm: at least 2 samples).

        Returns
        -------
        X : ndarray of the model's dtype
        y : ndarray (int64 labels or targets of the model's dtype), only if ``y`` was given
        """
        X = self._check_X(X)
        if X.shape[0] == 0:
            raise ValueError("X has no rows: a loss over 0 samples is undefined (0/0); give at "
                             "least one sample")
        if training and self.batchnorm and X.shape[0] < 2:
            raise ValueError(f"batch norm in training mode needs at least 2 samples, got "
                             f"{X.shape[0]}: use a larger batch, or training=False")
        if y is None:
            return X
        return X, self._check_y(y, X.shape[0])

    def _check_X(self, X: Any) -> np.ndarray:
        if np.iscomplexobj(X):
            raise ValueError("X is complex; the model takes real inputs")
        if np.asarray(X).dtype.kind in "US":
            raise ValueError("X holds strings; convert the data to numbers first (a CSV file "
                             "read as text?)")
        try:
            X = np.asarray(X, dtype=self.dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(f"X must be a 2-D array of numbers: {err}") from None
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"X must have shape (N, {self.layer_sizes[0]}) for this model, got "
                             f"{X.shape}")
        if not np.isfinite(X).all():
            rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
            raise ValueError(f"X contains NaN or Inf in rows {rows[:5].tolist()}; clean the data "
                             "first (see gradcheck_edu.diagnose.check_data)")
        return X

    def _check_y(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        C = self.layer_sizes[-1]
        if self.loss_name == "softmax_cross_entropy":
            if y.shape != (n,):
                raise ValueError(f"y must be integer labels of shape ({n},), got {y.shape}")
            if y.dtype == bool:
                raise ValueError("y is boolean; class labels must be integers in "
                                 f"[0, {C}): use y.astype(int)")
            if y.dtype.kind not in "iuf":
                raise ValueError(f"y must hold integer class labels in [0, {C}), got dtype "
                                 f"{y.dtype}; encode names as integers first, e.g. "
                                 "np.unique(y, return_inverse=True)[1]")
            if y.size and y.dtype.kind == "f":
                if not np.all(np.mod(y, 1) == 0):
                    raise ValueError("y must hold integer class labels, got fractions or NaN")
                y = y.astype(np.int64)
            if y.size and (y.min() < 0 or y.max() >= C):
                raise ValueError(f"labels must be in [0, {C}) for {C} outputs, got values from "
                                 f"{y.min()} to {y.max()}")
            return y.astype(np.int64, copy=False)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y must hold numbers, got dtype {y.dtype}")
        if y.shape == (n,) and C == 1:
            y = y.reshape(n, 1)
        if y.shape != (n, C):
            raise ValueError(f"y must have shape ({n}, {C}) to match the outputs, got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or Inf")
        if self.loss_name == "binary_cross_entropy" and ((y < 0) | (y > 1)).any():
            raise ValueError("binary cross-entropy targets must be in [0, 1]")
        return y.astype(self.dtype, copy=False)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, X: Any, training: bool = True, return_activations: bool = False):
        """Output of the network; with ``return_activations``, also every layer's output.

        Returns
        -------
        out : ndarray, shape (N, outputs)
        activations : list of ndarray (only with ``return_activations``)
            ``activations[i]`` is the output of ``layers[i]``.
        """
        return self._forward(self.check_input(X, training=training), training, return_activations)

    def _forward(self, a: np.ndarray, training: bool, return_activations: bool = False):
        """``forward`` on an already checked ``X``."""
        acts = []
        for layer in self.layers:
            a = layer.forward(a, training=training)
            if return_activations:  # a copy: an in-place activation overwrites its input
                acts.append(a.copy())
        return (a, acts) if return_activations else a

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dL/dout`` through every layer; fills each layer's ``grads``.

        Returns ``dL/dX``, or None with ``input_grad=False`` (training needs only the parameter
        gradients, and the first layer's ``dx`` is its largest product).
        """
        for layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        first = self.layers[0]
        # Skip dx only in our own Linear.backward: a replaced backward (a bug from the zoo, a
        # student's layer) keeps the plain backward(dout) signature.
        if not input_grad and getattr(first.backward, "__func__", None) is Linear.backward:
            return first.backward(dout, need_dx=False)
        return first.backward(dout)

    def reg_loss(self) -> float:
        """``l2 / 2 * sum ||W||_F^2`` over the weights."""
        if self.l2 == 0:
            return 0.0
        return 0.5 * self.l2 * sum(float(np.sum(W * W)) for k, W in self.params.items()
                                   if k.startswith("W"))

    def loss_parts(self, X: Any, y: Any, training: bool = True) -> tuple[float, float]:
        """(mean data loss, regularization loss).

        ``training=True`` (the default) is the function ``loss_and_grads`` differentiates
        (dropout and batch statistics active, batch-norm running statistics updated);
        ``training=False`` evaluates the model as ``predict`` does and changes nothing.
        """
        X, y = self.check_input(X, y, training=training)
        out = self._forward(X, training)
        data, _ = self.loss_fn(out, y)
        return data, self.reg_loss()

    def loss(self, X: Any, y: Any, training: bool = True) -> float:
        """Total loss (data + regularization) on ``(X, y)``; ``training`` as in ``loss_parts``."""
        data, reg = self.loss_parts(X, y, training=training)
        return data + reg

    def loss_and_grads(self, X: Any, y: Any) -> tuple[float, dict[str, np.ndarray]]:
        """Total loss and its gradient for every parameter (a dict with the keys of ``params``),
        in training mode.

        The gradient arrays are the layers' own buffers, overwritten by the next call: copy
        them to keep them.
        """
        # Check before any forward, so that bad input changes nothing (batch-norm statistics,
        # dropout streams).
        X, y = self.check_input(X, y, training=True)
        out = self._forward(X, training=True)
        data, dout = self.loss_fn(out, y)
        self.backward(dout.astype(self.dtype, copy=False), input_grad=False)
        grads = {name: layer.grads[key] for name, (layer, key) in self._grad_of.items()}
        if self.l2:
            for k in grads:
                if k.startswith("W"):
                    # d/dW (l2/2 ||W||^2) = l2 W
                    grads[k] = grads[k] + self.l2 * self.params[k]
        return data + self.reg_loss(), grads

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (softmax, binary) or outputs (mse), in evaluation mode."""
        out = self.forward(X, training=False)
        if self.loss_name == "softmax_cross_entropy":
            return out.argmax(axis=1)
        if self.loss_name == "binary_cross_entropy":
            return (out > 0).astype(np.int64)
        return out

    def accuracy(self, X: Any, y: Any) -> float:
        """Fraction of correct predictions (classification losses only)."""
        if self.loss_name == "mse":
            raise ValueError("accuracy is defined for classification losses only")
        X, y = self.check_input(X, y)
        return float(np.mean(self.predict(X) == y))

    # ------------------------------------------------------------------ dropout and checks
    def freeze_dropout(self, seed: int = 0) -> None:
        """Use one fixed dropout mask per layer and input shape, so the loss is deterministic.

        Dropout layer ``k`` (counting from 1) draws its masks from ``default_rng([seed, k])``:
        a stream of its own, so two layers of the same width get different masks.
        """
        if seed is None:
            seed = np.random.SeedSequence().entropy  # a fresh random seed, shared by the layers
        dropouts = [layer for layer in self.layers if isinstance(layer, Dropout)]
        for k, layer in enumerate(dropouts, start=1):
            layer.freeze([int(seed), k])

    def unfreeze_dropout(self) -> None:
        for layer in self.layers:
            if isinstance(layer, Dropout):
                layer.unfreeze()

    def layer_structure(self) -> dict:
        """The layer description for the checker's structure-aware path.

        Batch norm is described with its scale, shift and ``eps`` (batch statistics, as in
        training mode), dropout by the function giving its frozen mask. Raises
        NotImplementedError when dropout is not frozen (``freeze_dropout``): every call then
        draws new masks, and the generic path explains why that cannot be checked.

        Returns
        -------
        dict
            See :mod:`gradcheck_edu.layered`.
        """
        drops = [layer for layer in self.layers if isinstance(layer, Dropout)]
        if any(d.frozen_seed is None for d in drops):
            raise NotImplementedError("dropout draws a new mask per call: freeze_dropout() "
                                      "first")
        bns = [layer for layer in self.layers if isinstance(layer, BatchNorm1d)]
        act = ("leaky_relu", 0.01) if self.activation == "leaky_relu" else self.activation
        n = len(self.layer_sizes) - 1
        layers = []
        for k in range(1, n + 1):
            layer = {"W": f"W{k}", "b": f"b{k}", "activation": act if k < n else None}
            if k < n and self.batchnorm:
                layer["batchnorm"] = {"gamma": f"gamma{k}", "beta": f"beta{k}",
                                      "eps": bns[k - 1].eps}
            if k < n and drops:
                layer["dropout"] = drops[k - 1].frozen_mask
            layers.append(layer)
        return {"layers": layers, "loss": self.loss_name, "l2": self.l2}


def _real(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _layer_sizes(layer_sizes: Any) -> list[int]:
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__iter__"):
        raise TypeError(f"layer_sizes must be a list of ints such as [2, 100, 3], got "
                        f"{layer_sizes!r}")
    sizes = []
    for s in layer_sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Real):
            raise TypeError(f"layer_sizes must hold ints, got {s!r} in {list(layer_sizes)}")
        if not float(s).is_integer():
            raise ValueError(f"layer_sizes must hold whole numbers, got {s!r} in "
                             f"{list(layer_sizes)}")
        sizes.append(int(s))
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes needs at least [inputs, outputs], all >= 1: {sizes}")
    return sizes
