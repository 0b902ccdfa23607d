"""Structure-aware central differences for layered models: a full check in a fraction of 2n calls.

A full central-difference check of a model with ``n`` parameters costs ``2n`` loss evaluations.
For a stack of dense layers most of that work is repeated: perturbing ``W_l[i, j]`` changes only
column ``j`` of layer ``l``'s pre-activation, so layer ``l+1``'s pre-activation changes by the
rank-1 term ``da_l[:, j] (outer) W_{l+1}[j, :]``. Batch norm (with batch statistics) and a frozen
dropout mask act on each column separately, so this holds with them too: the perturbed column is
normalized with its own batch statistics, then masked. This package reuses the activations
cached before layer ``l``, applies that rank-1 update, batches many perturbations into one
broadcast computation, and recomputes only what changes. Through the activation after layer
``l+1`` (when that layer has no batch norm) the change is carried by a series, with coefficients
shared by all perturbations of a column: the Taylor series of tanh and sigmoid (exact to float64
resolution while the move is below 1e-4), the slopes of ReLU and leaky ReLU (exact while no
pre-activation crosses 0); perturbations for which it does not hold are evaluated exactly. When
layer ``l+1`` has batch norm, the batch statistics of every perturbed batch come from one small
product, and through a smooth activation its output's change from the same kind of series
(:mod:`~gradcheck_edu.layered.batchnorm`). Work
arrays are chunked to ``chunk_bytes`` (2 MB), so the extra memory stays a few tens of MB
whatever the size of the model.

It evaluates exactly the same central difference ``(L(theta + h e_k) - L(theta - h e_k)) / 2h``
at the same points, with the same ``h``, as the generic path; only the floating-point operations
differ. With a linear output layer, each ``L(theta +- h e_k) - L(theta)`` is computed from the
increments of the activations and outputs (:func:`~gradcheck_edu.layered.losses.data_loss_change`),
never as a difference of two rounded losses near 2.3, so its central differences carry almost no
round-off.

Agreement with the generic path. Measured against the same central differences computed in
extended precision (``np.longdouble``) at eps = 1e-6, for every activation and loss: this path is
2e-12 to 1e-11 from them on MLP([5, 7, 6, 4]) and within 5e-11 (the reference's own round-off) on
MLP([64, 128, 128, 10]) at batch 256; the generic path is 5e-10 to 7e-9 and 1e-8 to 1e-7 from
them. The generic path's error is the round-off of its loss values (about 0.4 EPS |L| each, rms,
so ``0.3 EPS |L| / h`` per component, whatever the model), and it is the whole of the difference
between the two paths: they agree to 1e-8 only where the gradient is large enough for that
round-off (small models, larger steps). Each path is judged by its own round-off (see
``check_model``'s Notes), so this path can rate a small gradient better than the generic one.

A model opts in by describing itself with ``model.layer_structure()``::

    {"layers": [{"W": "W1", "b": "b1", "activation": "tanh",
                 "batchnorm": {"gamma": "gamma1", "beta": "beta1", "eps": 1e-5},  # optional
                 "dropout": mask_of_shape},                                       # optional
                {"W": "W2", "b": "b2", "activation": None}],
     "loss": "softmax_cross_entropy",   # or "binary_cross_entropy" (with logits), "mse"
     "l2": 0.0}                          # total loss = data loss + l2/2 * sum ||W||_F^2

where ``"W"``/``"b"`` name arrays of ``model.params`` (``z = x @ W + b``), ``"batchnorm"`` names
the scale and shift of a batch norm applied to ``z`` with the batch's mean and (biased) variance
(``gamma * (z - mean) / sqrt(var + eps) + beta``), the activation is ``None``, ``"relu"``,
``"tanh"``, ``"sigmoid"`` or ``("leaky_relu", slope)``, and ``"dropout"`` is a function that
returns the frozen mask (zeros and ``1 / (1 - p)``) the layer multiplies its output of a given
shape by (a model whose masks are drawn afresh on every call has no such function, and no
description). The output layer takes neither batch norm nor dropout. The description is not
trusted: the loss it implies must equal ``model.loss(X, y)`` at the current parameters, and for
each parameter the largest and one random change it predicts must match ``model.loss`` itself at
``theta +- h e_k`` (``check_model``'s spot check), or the generic path is used. This package
never imports a model class.

Modules, in reading order: :mod:`~gradcheck_edu.layered.activations` (the activations and their
series), :mod:`~gradcheck_edu.layered.losses` (losses and loss changes from increments),
:mod:`~gradcheck_edu.layered.network` (the cached forward pass and how increments travel),
:mod:`~gradcheck_edu.layered.batchnorm` (a batch-norm layer after a rank-1 update),
:mod:`~gradcheck_edu.layered.perturbations` (:class:`LayeredLoss`: perturbations by column);
:mod:`~gradcheck_edu.layered.products` issues the mid-size matrix products on one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import activation
from .losses import data_loss
from .network import CHUNK_BYTES
from .perturbations import LayeredLoss

__all__ = ["LayeredLoss", "structure_of", "CHUNK_BYTES"]


def structure_of(model: Any) -> dict | None:
    """The model's layer structure if it describes one this package supports, else None.

    Parameters
    ----------
    model : object
        Anything; a model opts in with a ``layer_structure()`` method (see the package
        docstring) that returns the description, or raises NotImplementedError.

    Returns
    -------
    dict or None
    """
    describe = getattr(model, "layer_structure", None)
    if not callable(describe):
        return None
    try:
        structure = describe()
    except NotImplementedError:
        return None
    if structure is None:
        return None
    try:
        for layer in structure["layers"]:
            activation(layer.get("activation"))
            bn = layer.get("batchnorm")
            if bn is not None and not (isinstance(bn["gamma"], str) and isinstance(bn["beta"], str)
                                       and float(bn["eps"]) >= 0):
                return None
            if layer.get("dropout") is not None and not callable(layer["dropout"]):
                return None
        last = structure["layers"][-1]
        if last.get("batchnorm") is not None or last.get("dropout") is not None:
            return None
        data_loss(structure["loss"], np.zeros((1, 1)), np.zeros(1, dtype=np.int64))
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return structure
