"""The sandbox engine (gradcheck_edu.sandbox): data across the wire, remote objects, mirrors,
limits, and each attack a submission can make at the engine level.

Student code runs in bubblewrap here; CI installs it (.ci/run). Limits are short so the suite
stays fast.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from gradcheck_edu.sandbox import (
    CellStatus,
    Isolation,
    Limits,
    Remote,
    Sandbox,
    bwrap_status,
)

FAST = Limits(cell_seconds=3, call_seconds=2, submission_seconds=40, memory_mb=1024)


def notebook(tmp_path: Path, *cells: str, name: str = "sub.ipynb") -> Path:
    """A notebook file whose code cells are ``cells``."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
                     "execution_count": None} for src in cells]}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module", autouse=True)
def _bwrap_works():
    ok, why = bwrap_status()
    assert ok, f"these tests need bubblewrap (apt-get install bubblewrap): {why}"


AFFINE = """
import numpy as np
class Affine:
    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((n_in, n_out)), "b": rng.standard_normal(n_out)}
        self.grads = {"W": np.zeros((n_in, n_out)), "b": np.zeros(n_out)}
    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]
    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] += dout.sum(axis=0)
        return dout @ self.params["W"].T
"""


@pytest.mark.parametrize("isolation", [Isolation.BWRAP, Isolation.NONE])
def test_a_remote_layer_works_like_the_real_one(tmp_path, isolation):
    ns: dict = {}
    exec(AFFINE, ns)
    real = ns["Affine"](4, 3)
    x = np.random.default_rng(1).standard_normal((5, 4))
    dout = np.random.default_rng(2).standard_normal((5, 3))
    with Sandbox(notebook(tmp_path, AFFINE), limits=FAST, isolation=isolation) as sb:
        assert [r.status for r in sb.run_cells()] == [CellStatus.OK]
        Affine = sb.get("Affine")
        assert isinstance(Affine, Remote)
        layer = Affine(4, 3)
        assert type(layer).__name__ == "Affine"
        np.testing.assert_array_equal(layer.forward(x), real.forward(x))
        # the mirror: perturbed in place here, seen by forward there
        W = layer.params["W"]
        W[0, 0] += 1.0
        real.params["W"][0, 0] += 1.0
        np.testing.assert_array_equal(layer.forward(x), real.forward(x))
        # and back: backward's gradients land in the same dict objects, in place
        grads = layer.grads
        gW = grads["W"]
        np.testing.assert_array_equal(layer.backward(dout), real.backward(dout))
        assert layer.grads is grads and layer.params["W"] is W
        np.testing.assert_array_equal(grads["W"], real.grads["W"])
        np.testing.assert_array_equal(grads["b"], real.grads["b"])  # += in place
        assert gW is not None
        twin = copy.deepcopy(layer)
        twin.params["W"][:] = 0
        twin.forward(x)
        np.testing.assert_array_equal(layer.forward(x), real.forward(x))
