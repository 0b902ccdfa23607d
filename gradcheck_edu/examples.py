"""The examples of the course notebooks, the demo and the figures, in one place a student can read.

Each notebook imports what it checks from here, and each figure in ``figures/`` is drawn from
the same function with the same arguments and seeds, so the picture in the README is the one the
notebook draws.

* notebook 01: :func:`cube`, ``theta**3`` at ``theta = 1``;
* notebook 02: :func:`smooth_f` / :func:`smooth_df`, :data:`FLOAT32_METHODS`, :func:`taylor_pair`;
* notebook 03: :func:`mlp_example`;
* notebook 04: :func:`bug_exercise`, :func:`mystery_bug`, and the checks its student version
  calls, :func:`check_mystery` and :func:`check_mystery_fix` (its sources alone use
  :func:`is_mystery` and :func:`inject_mystery`);
* notebook 05: :func:`spiral_model`, :func:`dead_relu_model` (:data:`DEAD_RELU_TITLES`),
  :func:`checklist_report`.

>>> print(f"{cube(1.0):.6f} {smooth_df(0.0):.6f}")
1.000000 1.000000
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np

__all__ = ["cube", "smooth_f", "smooth_df", "FLOAT32_METHODS", "taylor_pair", "mlp_example",
           "bug_exercise", "MYSTERY_DIGESTS", "inject_mystery", "mystery_bug", "check_mystery",
           "check_mystery_fix",
           "spiral_model", "dead_relu_model", "DEAD_RELU_TITLES", "checklist_report"]


def cube(t):
    """``t**3``, whose derivative at 1 is exactly 3 (notebook 01).

    Parameters
    ----------
    t : float or ndarray
        Any shape; the result has the same shape.
    """
    return t**3


def smooth_f(t):
    """``exp(t) sin(t)``: every method's truncation order is visible (a cubic hides Richardson's).

    Parameters
    ----------
    t : float or complex or ndarray
        Any shape (complex for the complex step); the result has the same shape.
    """
    return np.exp(t) * np.sin(t)


def smooth_df(t):
    """The exact derivative of :func:`smooth_f`, ``exp(t) (sin t + cos t)``; same shape as ``t``."""
    return np.exp(t) * (np.sin(t) + np.cos(t))


FLOAT32_METHODS = ("forward", "central")  # the two a gradient check uses
"""The methods notebook 02 compares in float32."""


def taylor_pair():
    """Notebook 02's Taylor test, of a right and of a wrong gradient.

    ``f(v) = sum(sin(v) v^2)`` at ``v = [0.3, -0.8, 1.1]`` (shape (3,)); the wrong gradient adds
    ``0.01 cos(v)``.

    Returns
    -------
    right, wrong : TaylorResult
        Rate about 2 for the right gradient, about 1 for the wrong one.
    """
    from .taylor import taylor_test

    w = np.array([0.3, -0.8, 1.1])

    def f(v):
        return float(np.sum(np.sin(v) * v**2))

    def grad(v):
        return np.cos(v) * v**2 + 2 * v * np.sin(v)

    right = taylor_test(f, grad, w, seed=0)
    wrong = taylor_test(f, lambda v: grad(v) + 0.01 * np.cos(v), w, seed=0)
    return right, wrong


def mlp_example(seed: int = 0):
    """Notebook 03's network and batch: ``MLP([4, 16, 16, 3])``, tanh, on 32 random samples.

    Returns
    -------
    model : MLP
    X : ndarray, shape (32, 4)
    y : ndarray of int, shape (32,)
        Classes 0, 1, 2.
    """
    from .nn import MLP

    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 3, 32)
    return MLP([4, 16, 16, 3], activation="tanh", seed=seed), X, y


def bug_exercise(name: str, seed: int = 0, n: int = 16):
    """Notebook 04's exercise: the model ``bugs.make_model(name, seed)``, ``n`` random samples,
    and the gradient check of a copy with the bug injected.

    Returns
    -------
    model : MLP
        The correct model.
    report : GradientCheckReport
        The check of the buggy copy.
    X : ndarray, shape (n, n_inputs)
    y : ndarray of int, shape (n,)
    """
    from . import bugs
    from .model_check import check_model

    model = bugs.make_model(name, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, model.layer_sizes[0]))
    y = rng.integers(0, model.layer_sizes[-1], n)
    return model, check_model(bugs.inject(model, name), X, y), X, y


MYSTERY_DIGESTS = ("29f19b8bc3bb7458086e", "b5862493ee25bfe3b09d", "b7434a6b43c6a841bd88")
"""Notebook 04's mysteries 1 to 3: a digest of each bug's name (see :func:`is_mystery`), not the
name itself, so that the answers are not printed in the library a student reads."""


def _digest(number: int, name: str) -> str:
    return hashlib.sha256(f"gradcheck_edu mystery {number}: {name}".encode()).hexdigest()[:20]


def _check_number(number: Any) -> int:
    if not isinstance(number, int) or number not in range(1, len(MYSTERY_DIGESTS) + 1):
        raise ValueError(f"a mystery number is 1 to {len(MYSTERY_DIGESTS)}, got {number!r}")
    return number


def is_mystery(number: int, name: str) -> bool:
    """Whether the bug ``name`` is the one behind notebook 04's mystery ``number`` (1 to 3).

    It compares digests of the names (:data:`MYSTERY_DIGESTS`), so a check can say right or wrong
    without the answer being written anywhere a student reads it. It tells the answer to whoever
    loops over the catalog: it is for the notebook's sources and the tests, not in ``__all__``,
    and no student version imports it (they call :func:`check_mystery`, which judges the
    student's own answer).

    >>> is_mystery(1, "sign_error")
    False
    """
    return _digest(_check_number(number), str(name)) == MYSTERY_DIGESTS[number - 1]


def _mystery_name(number: int) -> str:
    from . import bugs

    return next(b.name for b in bugs.catalog() if is_mystery(number, b.name))


def inject_mystery(model: Any, number: int):
    """A copy of ``model`` (an ``MLP`` of :func:`mystery_bug`) with mystery ``number``'s bug in it,
    as :func:`gradcheck_edu.bugs.inject` makes it; the bug is not named."""
    from . import bugs

    return bugs.inject(model, _mystery_name(_check_number(number)))


def check_mystery(number: int, answer: Any, *, name: str, hint: str | None = None,
                  explain: str = ""):
    """Feedback on ``answer``, a student's name for mystery ``number``'s bug: right or not (one of
    the catalog's names), and, after a right answer only, the bug's description and ``explain``.

    The check a student version calls in place of :func:`is_mystery`, which it does not import:
    it says right or wrong about the student's own answer, as ``grader.check`` does.
    """
    from . import bugs
    from .feedback import check_choice

    bug = bugs.find(_mystery_name(_check_number(number)))
    return check_choice(answer, lambda n: is_mystery(number, n), [b.name for b in bugs.catalog()],
                        name=name, hint=hint,
                        explain=f"{bug.name}: {bug.description}" + (f" {explain}" if explain
                                                                     else ""))


def check_mystery_fix(fixed_backward: Any, number: int = 1, seed: int = 0, *,
                      name: str = "fixed_backward", hint: str | None = None):
    """Feedback on a student's ``fixed_backward(self, dout)`` for mystery ``number``: the method
    replaces the buggy ``backward`` in the copy :func:`inject_mystery` makes, and the model is
    gradient-checked (:func:`~gradcheck_edu.check_model`) on the mystery's batch. A right fix
    is told which bug it fixed."""
    from . import bugs
    from .autograde.functions import as_method
    from .feedback import Feedback, check_report, describe_error, unanswered
    from .model_check import check_model

    if unanswered(fixed_backward) or not callable(fixed_backward):
        return Feedback(name, False, "not answered yet: write the method.")
    model, _, X, y = mystery_bug(number, seed=seed)
    buggy = inject_mystery(model, number)
    layer = next(layer for layer in buggy.layers if "backward" in vars(layer))
    layer.backward = as_method(fixed_backward, layer)  # also from a sandbox
    n_in, n_out = layer.params["W"].shape
    try:
        layer.forward(np.ones((len(X), n_in)))
        if layer.backward(np.ones((len(X), n_out))) is None:
            return Feedback(name, False, "not answered yet: your method returns None; return dx.")
        report = check_model(buggy, X, y)
    except Exception as err:  # the student's code: any error becomes feedback
        return Feedback(name, False, f"the model failed with your backward: "
                        f"{describe_error(err)}")
    bug = bugs.find(_mystery_name(number))
    return check_report(report, name=name, hint=hint,
                        explain=f"The bug was {bug.name}: {bug.description} Your backward now "
                                "does what gradcheck_edu.nn.Linear.backward does.")


def mystery_bug(number: int, seed: int = 0):
    """Notebook 04's mystery ``number`` (1 to 3): :func:`bug_exercise` of a bug it does not name.

    Returns
    -------
    model, report, X, y
        As for :func:`bug_exercise`.
    """
    return bug_exercise(_mystery_name(_check_number(number)), seed=seed)


def spiral_model(seed: int = 0, **kwargs):
    """Notebook 05's problem: ``MLP([2, 64, 3], **kwargs)`` and 300 spiral samples in 3 classes.

    Returns
    -------
    model : MLP
    X : ndarray, shape (300, 2)
    y : ndarray of int, shape (300,)
    """
    from .datasets import spiral
    from .nn import MLP

    X, y = spiral(100, 3, seed=seed)
    return MLP([2, 64, 3], seed=seed, **kwargs), X, y


def dead_relu_model(seed: int = 0):
    """Notebook 05's spiral network with the biases of 3 hidden units in 4 at -20: dead ReLUs.

    Returns
    -------
    MLP
        ``MLP([2, 64, 3])`` whose ``b1`` (shape (64,)) is -20 where ``index % 4 != 0``.
    """
    model, _, _ = spiral_model(seed)
    b1 = model.params["b1"]
    b1[np.arange(b1.size) % 4 != 0] = -20.0
    return model


DEAD_RELU_TITLES = ("healthy: He init, biases 0", "biases at -20 for 3 units in 4")
"""Titles of the two panels of ``figures/dead_relus.png``."""


@functools.cache
def checklist_report():
    """Notebook 05's checklist: spiral data, ``MLP([2, 64, 3])``, Adam 1e-2 (computed once: the
    demo prints it and draws it).

    Returns
    -------
    ChecklistReport
    """
    from .datasets import spiral
    from .diagnose import checklist
    from .nn import MLP, Adam

    X, y = spiral(100, 3, seed=0)
    Xv, yv = spiral(50, 3, seed=1)
    return checklist(lambda: MLP([2, 64, 3], seed=0), X, y, Xv, yv,
                     make_optimizer=lambda: Adam(1e-2))
