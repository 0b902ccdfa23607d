"""The pattern of a mismatch: calibrated on the bug zoo, hand-written buggy layers, the
deeplearning.ai assignment's planted bugs, and correct models that must never get one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck_edu as ge
from gradcheck_edu import bugs
from gradcheck_edu.finite_diff import Estimate, make_target
from gradcheck_edu.nn import MLP
from gradcheck_edu.nn.layers import Linear, Tanh
from gradcheck_edu.pattern_fits import MIN_SUPPORT
from gradcheck_edu.patterns import KINDS, Pattern, Where, read_pattern
from gradcheck_edu.roundoff import find_kinks, noise_bound


# -- the arrays a report holds, with the noise bound its builder computes -------------------
def read_all(f, analytic, theta, *, sizes=None, indices=None, param=True):
    """read_pattern for every parameter of ``theta`` (a dict), kinks excluded as the report
    excludes them: what the report builder does, spelled out."""
    est = Estimate(make_target(f, theta), 1e-6, "central", indices)
    a_flat = np.concatenate([np.ravel(analytic[k]) for k in theta]).astype(np.float64)
    a_sel = a_flat if indices is None else a_flat[indices]
    noise = noise_bound(est)
    kinks = find_kinks(est, a_sel, noise)
    n_flat = np.full(a_flat.size, np.nan)
    z_flat = np.full(a_flat.size, np.nan)
    pos = np.arange(a_flat.size) if indices is None else indices
    n_flat[pos] = np.where(kinks, np.nan, est.grad)
    z_flat[pos] = noise
    out, start = {}, 0
    for k, value in theta.items():
        size = np.size(value)
        sl = slice(start, start + size)
        out[k] = read_pattern(a_flat[sl], n_flat[sl], noise=z_flat[sl], shape=np.shape(value),
                              param=value if param else None, sizes=sizes)
        start += size
    return out


def read_model(model, X, y, **kw):
    _, grads = model.loss_and_grads(X, y)
    grads = {k: np.array(grads[k], dtype=np.float64) for k in model.params}
    return read_all(lambda _: model.loss(X, y), grads, model.params,
                    sizes={"the batch size": len(X)}, **kw)


def read_layer(layer, x, seed=0):
    """Each row of a check_layer: ``x`` and every parameter."""
    x = np.array(x, dtype=np.float64)
    out = layer.forward(x)
    dout = np.random.default_rng(seed + 100).standard_normal(out.shape)
    dx = layer.backward(dout)
    analytic = {"x": np.array(dx, dtype=np.float64)}
    analytic.update({k: np.array(v, dtype=np.float64) for k, v in layer.grads.items()})
    theta = {"x": x, **layer.params}
    return read_all(lambda th: float(np.sum(layer.forward(th["x"]) * dout)), analytic, theta,
                    sizes={"the batch size": len(x)})


def data(model, seed, n=8):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, model.layer_sizes[0]))
    return X, rng.integers(0, model.layer_sizes[-1], n)


# -- the zoo --------------------------------------------------------------------------------
def test_every_bug_has_an_expected_kind():
    for bug in bugs.catalog():
        assert bug.expected_pattern in KINDS, bug.name


SHAPES = ([3, 6, 4], [4, 5, 5, 3], [2, 7, 7, 5])
SEEDS = (0, 1, 2)
_ZOO: dict = {}


def zoo_reports(bug):
    """(seed, sizes, model, check_model report of the buggy copy) over SEEDS x SHAPES, batch 8:
    the patterns come from the report builder itself (check_model's structure-aware path)."""
    if bug.name not in _ZOO:
        out = []
        for seed in SEEDS:
            for sizes in SHAPES:
                model = bugs.make_model(bug, seed, layer_sizes=sizes)
                try:
                    buggy = bugs.inject(model, bug.name)
                except ValueError:  # e.g. wrong_transpose needs a square layer
                    continue
                X, y = data(model, seed)
                out.append((seed, sizes, model, ge.check_model(buggy, X, y)))
        _ZOO[bug.name] = out
    return _ZOO[bug.name]


def kind_found(pattern):
    if pattern.kind == "unknown" and pattern.support < MIN_SUPPORT:
        return "too few"
    return pattern.kind


@pytest.mark.parametrize("bug", bugs.catalog(), ids=lambda b: b.name)
def test_zoo_reads_its_expected_kind(bug):
    seen = []
    for seed, sizes, model, report in zoo_reports(bug):
        corrupted = bug.corrupted_params(model)
        for name, row in report.per_parameter.items():
            pattern = row.pattern
            if name not in corrupted:
                assert row.passed if hasattr(row, "passed") else row.verdict.passed
                assert pattern is None, (bug.name, name, pattern)
                continue
            assert pattern is not None, (bug.name, name)
            found = kind_found(pattern)
            if bug.expected_pattern in ("scale", "sign", "regularization"):
                # a whole-gradient bug reads the same in every parameter large enough
                assert found in (bug.expected_pattern, "too few"), (bug.name, seed, sizes,
                                                                    name, str(pattern))
            else:
                assert found in (bug.expected_pattern, "unknown", "too few"), (bug.name, name)
            seen.append(found)
    assert bug.expected_pattern in seen, (bug.name, seen)


def zoo_table() -> str:
    """The README's table: bug -> the kinds read in its corrupted parameters (measured)."""
    lines = [f"| bug | expected | kinds read in its corrupted parameters ({len(SEEDS)} seeds x "
             f"{len(SHAPES)} shapes, batch 8) |", "|---|---|---|"]
    for bug in bugs.catalog():
        counts: dict = {}
        for _, _, model, report in zoo_reports(bug):
            for name in bug.corrupted_params(model):
                kind = kind_found(report.per_parameter[name].pattern)
                counts[kind] = counts.get(kind, 0) + 1
        found = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        lines.append(f"| `{bug.name}` | {bug.expected_pattern} | {found} |")
    return "\n".join(lines)


def test_readme_table_is_the_measured_one():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert zoo_table() in readme, "regenerate it: python tests/test_patterns.py"


def test_zoo_factors_name_what_the_bug_is():
    model = bugs.make_model("missing_1_over_m", 0, layer_sizes=[3, 6, 4])
    X, y = data(model, 0, n=8)
    for name, p in read_model(bugs.inject(model, "missing_1_over_m"), X, y).items():
        assert p.factor == 8.0 and "8 is the batch size" in str(p), (name, str(p))
    model = bugs.make_model("l2_missing_in_gradient", 0, l2=0.25)
    X, y = data(model, 0)
    found = read_model(bugs.inject(model, "l2_missing_in_gradient"), X, y)
    assert found["W1"].factor == -model.l2 and found["b1"] is None
    assert "analytic - numerical = -0.25 x parameter" in str(found["W1"])
    model = bugs.make_model("sign_error", 1)
    X, y = data(model, 1)
    p = read_model(bugs.inject(model, "sign_error"), X, y)["W2"]
    assert (p.kind, p.factor, p.support) == ("sign", -1.0, model.params["W2"].size)


# -- correct models and layers never get a pattern ------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(0, 2**16),
       st.sampled_from(["tanh", "relu", "sigmoid"]), st.integers(1, 9))
def test_correct_model_never_gets_a_pattern(sizes, seed, activation, n):
    sizes = [max(s, 2) if i == len(sizes) - 1 else s for i, s in enumerate(sizes)]
    model = MLP(sizes, activation=activation, seed=seed)
    X, y = data(model, seed, n)
    assert all(p is None for p in read_model(model, X, y).values())


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(0, 2**16),
       st.sampled_from(["tanh", "relu", "sigmoid"]), st.integers(1, 9), st.booleans())
def test_correct_model_reports_have_no_pattern(sizes, seed, activation, n, fast):
    """Through the report builder itself (check_model, either path): no row has a pattern."""
    sizes = [max(s, 2) if i == len(sizes) - 1 else s for i, s in enumerate(sizes)]
    model = MLP(sizes, activation=activation, seed=seed)
    X, y = data(model, seed, n)
    report = ge.check_model(model, X, y, fast="auto" if fast else False)
    assert all(row.pattern is None for row in report.per_parameter.values()), str(report)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 7), st.integers(0, 2**16))
def test_correct_layers_never_get_a_pattern(n_in, n_out, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n_in))
    for layer in (Linear(n_in, n_out, rng=seed), Tanh()):
        if layer.params:
            layer.params["b"][...] = rng.standard_normal(n_out)
        assert all(p is None for p in read_layer(layer, x, seed).values())
        report = ge.check_layer(layer, x, seed=seed)  # the wired path: x and each parameter
        assert all(row.pattern is None for row in report.per_parameter.values())


# -- hand-written buggy layers --------------------------------------------------------------
class BuggyLinear(Linear):
    """``Linear`` with one bug in its backward, chosen by name."""

    def __init__(self, n_in, n_out, bug, seed=0):
        super().__init__(n_in, n_out, rng=seed)
        self.params["b"][...] = np.random.default_rng(seed + 1).standard_normal(n_out)
        self.bug = bug

    def forward(self, x, training=True):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        x, W = self.x, self.params["W"]
        dW, db, dx = x.T @ dout, dout.sum(axis=0), dout @ W.T
        if self.bug == "dW /= N":
            dW = dW / x.shape[0]
        elif self.bug == "sign":
            dx = -dx
        elif self.bug == "missing .T":  # a square layer: the shapes fit
            dW = dout.T @ x
        elif self.bug == "reshape":  # dW computed as (out, in), then reshaped
            dW = (dout.T @ x).reshape(W.shape)
        elif self.bug == "dx never written":
            dx = np.zeros_like(x)
        elif self.bug == "db = 2 *":
            db = 2 * db
        elif self.bug == "rows never written":  # a buffer filled from row 2 on
            dW[:2] = 0.0
        elif self.bug == "one unit":  # the last output unit's weights get no x
            dW[:, -1] = dout[:, -1].sum()
        self.grads["W"], self.grads["b"] = dW, db
        return dx


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hand_written_layer_bugs(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 5))

    def read(bug, n_in=5, n_out=4):
        return read_layer(BuggyLinear(n_in, n_out, bug, seed), x[:, :n_in], seed)

    p = read("dW /= N")["W"]
    assert (p.kind, p.factor, p.support) == ("scale", 1 / 8, 20)
    assert str(p).startswith("analytic = 1/8 x numerical in all 20 components: a constant "
                             "factor; 8 is the batch size: a missing or extra 1/N?")
    found = read("sign")
    assert (found["x"].kind, found["x"].factor) == ("sign", -1.0)
    assert found["W"] is None and found["b"] is None
    p = read("missing .T", 5, 5)["W"]
    assert (p.kind, p.detail, p.factor, p.where) == ("transpose", "transposed", None, None)
    assert p.support == 20  # the off-diagonal components
    p = read("reshape")["W"]
    assert p.kind == "transpose" and "reshaped" in p.detail
    p = read("dx never written")["x"]
    assert (p.kind, p.detail, p.where) == ("zero", "analytic", None)
    assert str(p).startswith("analytic is 0 in all 40 components where numerical is not")
    p = read("db = 2 *")["b"]
    assert (p.kind, p.factor) == ("scale", 2.0) and "square" in str(p)
    p = read("rows never written")["W"]
    assert (p.kind, p.detail, p.where.axis, tuple(p.where)) == ("zero", "analytic", "rows", (0, 1))
    assert str(p).startswith("analytic is 0 in rows 0 and 1 (8 components) where numerical is "
                             "not, and the other components agree")
    p = read("one unit")["W"]
    assert (p.kind, tuple(p.where), p.where.axis) == ("subset", (3,), "columns")
    assert p.support == 15 and "column 3" in str(p)


def test_assignment_instead_of_accumulation_names_the_repeated_rows():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((10, 3))
    ix = np.array([1, 4, 4, 7, 2, 9, 7, 7, 0, 5])
    dout = rng.standard_normal((ix.size, 3))

    def f(th):
        return float(np.sum(th["C"][ix] * dout))

    dC = np.zeros_like(C)
    dC[ix] = dout  # the bug: with repeated indices only the last one is kept
    found = read_all(f, {"C": dC}, {"C": C})["C"]
    assert found.kind == "subset" and found.where.axis == "rows"
    assert tuple(found.where) == (4, 7)  # the repeated indices, and only those
    assert found.support == 3 * 5  # rows 0, 1, 2, 5, 9 agree
    right = np.zeros_like(C)
    np.add.at(right, ix, dout)
    assert read_all(f, {"C": right}, {"C": C})["C"] is None


def test_missing_l2_term_reads_minus_lambda():
    rng = np.random.default_rng(3)
    A, b, lam = rng.standard_normal((12, 4)), rng.standard_normal(12), 0.03
    W = {"w": rng.standard_normal(4)}

    def f(th):
        r = A @ th["w"] - b
        return float(0.5 * r @ r + 0.5 * lam * th["w"] @ th["w"])

    grad = {"w": A.T @ (A @ W["w"] - b)}  # lam * w left out
    p = read_all(f, grad, W)["w"]
    assert (p.kind, p.factor, p.support) == ("regularization", -lam, 4)
    assert "an L2 term missing" in str(p)
    assert read_all(f, grad, W, param=False)["w"].kind == "unknown"  # without the values


def test_unknown_and_too_few():
    rng = np.random.default_rng(1)
    n = rng.standard_normal((4, 5))
    p = read_pattern(n + 0.1 * rng.standard_normal(n.shape), n, noise=1e-9)
    assert (p.kind, p.factor, p.where) == ("unknown", None, None)
    assert "no simple pattern" in str(p)
    p = read_pattern(2 * n[0, :3], n[0, :3], noise=1e-9)  # three components: a handful
    assert p.kind == "unknown" and p.support == 3 and "too few" in str(p)
    assert read_pattern(2 * n[0, :4], n[0, :4], noise=1e-9).kind == "scale"
    p = read_pattern(np.where(n > 0, np.nan, n), n, noise=1e-9)
    assert p.kind == "unknown" and "NaN or Inf" in str(p)


def test_factors_are_named_by_the_sizes_given():
    n = np.random.default_rng(5).standard_normal((6, 3))
    sizes = {"the batch size": 8, "the width of layer 1": 6}
    p = read_pattern(n * 6, n, noise=1e-9, sizes=sizes)
    assert p.factor == 6.0 and "6 is the width of layer 1" in str(p)
    p = read_pattern(n * 6, n, noise=1e-9)  # no sizes: a factor, not a name
    assert p.factor == 6.0 and " is the " not in str(p)
    p = read_pattern(-n / 2, n, noise=1e-9)
    assert p.factor == -0.5 and str(p).startswith("analytic = -1/2 x numerical")
    assert "sign is flipped" in str(p)
    p = read_pattern(np.array([6.0]), np.array([2.0]), noise=1e-9)
    assert p.kind == "unknown" and str(p).startswith("a single component: too few")


def test_a_scale_that_fits_only_to_1e_4_is_not_a_scale():
    """Honest fit: every component must agree to the estimate's error, not roughly."""
    n = np.random.default_rng(2).standard_normal(50)
    noisy = 2 * n * (1 + 1e-4 * np.random.default_rng(3).standard_normal(50))
    assert read_pattern(noisy, n, noise=1e-9).kind == "unknown"
    assert read_pattern(2 * n, n, noise=1e-9).factor == 2.0


def test_a_coarse_estimate_names_nothing():
    """float32 at a small step: the error bound is close to the values themselves, and several
    explanations would fit; no pattern is named from such an estimate."""
    rng = np.random.default_rng(4)
    truth = rng.standard_normal(30)
    noise = np.full(30, 0.1)
    n = truth + 0.04 * rng.standard_normal(30)  # numerical good to about 4% of its size
    p = read_pattern(8 * truth, n, noise=noise)  # fits 8, but also 7.8 and 8.2
    assert p.kind == "unknown" and "pin the factor only to" in str(p), str(p)
    p = read_pattern(truth, 0.05 * truth, noise=np.abs(truth) / 10)  # "numerical is 0"?
    assert p.kind == "unknown" and "too coarse" in str(p), str(p)
    p = read_pattern(8 * truth, truth, noise=1e-9)  # the same mismatch, resolved
    assert (p.kind, p.factor) == ("scale", 8.0)


def test_float32_model_reads_a_pattern_only_where_it_resolves_one():
    model = MLP([3, 6, 4], activation="tanh", seed=0, dtype=np.float32)
    X, y = data(model, 0)
    with pytest.warns(ge.PrecisionWarning):
        report = ge.check_model(bugs.inject(model, "missing_1_over_m"), X, y, eps=1e-3)
    for row in report.per_parameter.values():
        p = row.pattern
        assert p.kind in ("scale", "unknown") and (p.kind == "unknown" or p.factor == 8.0)
    assert report.per_parameter["W2"].pattern.kind == "scale"


def test_sampled_check_reads_what_it_can():
    model = bugs.make_model("missing_1_over_m", 0, layer_sizes=[4, 8, 3])
    X, y = data(model, 0, n=6)
    buggy = bugs.inject(model, "missing_1_over_m")
    indices = np.sort(np.random.default_rng(0).choice(67, 20, replace=False))
    found = read_model(buggy, X, y, indices=indices)
    p = found["W1"]
    assert p.kind == "scale" and p.factor == 6.0
    assert "sampled components (of 32)" in str(p)
    # a transpose needs both ends of each pair: a sample too thin to hold four says unknown
    rng = np.random.default_rng(0)
    n = rng.standard_normal((6, 6))
    noise = np.full(n.shape, 1e-9)
    sample = np.full(n.shape, np.nan)
    sample[0, 1], sample[1, 0], sample[2, 3] = n[0, 1], n[1, 0], n[2, 3]
    sample[4, 4], sample[5, 2], sample[3, 5] = n[4, 4], n[5, 2], n[3, 5]
    assert read_pattern(n.T, sample, noise=noise).kind == "unknown"
    assert read_pattern(n.T, n, noise=noise).kind == "transpose"


def test_directional_derivatives_read_a_factor_and_say_what_they_cannot():
    d = np.random.default_rng(0).standard_normal(6)
    p = read_pattern(-d, d, noise=1e-9, directional=True)
    assert p.kind == "sign" and "all 6 directions" in str(p)
    p = read_pattern(d + np.arange(6.0), d, noise=1e-9, directional=True, param=np.ones(6))
    assert p.kind == "unknown" and "only a constant factor, a sign or zeros" in str(p)


def test_where_prints_and_compares():
    w = Where((3, 7), "rows")
    assert w == (3, 7) and 7 in w and str(w) == "rows 3 and 7" and w.axis == "rows"
    assert str(Where((2,), "columns")) == "column 2"
    assert isinstance(read_pattern(np.zeros(5), np.ones(5), noise=1e-9), Pattern)


def test_inputs_are_not_modified_and_bad_shapes_are_named():
    a, n, z = np.ones((2, 3)), 2 * np.ones((2, 3)), np.full((2, 3), 1e-9)
    before = [v.copy() for v in (a, n, z)]
    read_pattern(a, n, noise=z)
    assert all(np.array_equal(u, v) for u, v in zip(before, (a, n, z)))
    with pytest.raises(ValueError, match="numerical has 5 values"):
        read_pattern(a, np.ones(5), noise=z)
    with pytest.raises(ValueError, match="sizes"):
        read_pattern(a, n, noise=z, sizes={"the batch size": 0})


# -- the deeplearning.ai gradient-checking assignment -----------------------------------------
def _relu(x):
    return np.maximum(0, x)


def _dlai_forward(X, Y, p):
    m = X.shape[1]
    A1 = _relu(p["W1"] @ X + p["b1"])
    A2 = _relu(p["W2"] @ A1 + p["b2"])
    A3 = 1 / (1 + np.exp(-(p["W3"] @ A2 + p["b3"])))
    cost = np.sum(-np.log(A3) * Y - np.log(1 - A3) * (1 - Y)) / m
    return cost, (A1, A2, A3)


def _dlai_backward(X, Y, p, cache):
    """backward_propagation_n as the assignment ships it, with its two planted bugs."""
    m = X.shape[1]
    A1, A2, A3 = cache
    dZ3 = A3 - Y
    g = {"W3": dZ3 @ A2.T / m, "b3": dZ3.sum(axis=1, keepdims=True) / m}
    dZ2 = (p["W3"].T @ dZ3) * (A2 > 0)
    g["W2"] = dZ2 @ A1.T / m * 2  # planted
    g["b2"] = dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (p["W2"].T @ dZ2) * (A1 > 0)
    g["W1"] = dZ1 @ X.T / m
    g["b1"] = 4.0 / m * dZ1.sum(axis=1, keepdims=True)  # planted
    return g


def test_deeplearning_ai_planted_bugs_read_as_scale_2_and_4():
    rs = np.random.RandomState(1)  # gradient_check_n_test_case: np.random.seed(1), randn
    X, Y = rs.randn(4, 3), np.array([1, 1, 0])
    shapes = [("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)), ("W3", (1, 3)),
              ("b3", (1, 1))]
    params = {k: rs.randn(*s) for k, s in shapes}
    grads = _dlai_backward(X, Y, params, _dlai_forward(X, Y, params)[1])
    found = read_all(lambda p: _dlai_forward(X, Y, p)[0], grads, params)
    assert (found["W2"].kind, found["W2"].factor) == ("scale", 2.0)
    assert (found["b1"].kind, found["b1"].factor) == ("scale", 4.0)
    assert {k for k, p in found.items() if p is not None} == {"W2", "b1"}
    assert "(4 of them nonzero)" in str(found["W2"])  # ReLU leaves 11 of 15 at 0
    report = ge.gradient_check(lambda p: _dlai_forward(X, Y, p)[0], grads, params)
    assert f"{report.relative_error:.6f}" == "0.285093"  # the assignment's 0.2850931567761623
    wired = {k: row.pattern for k, row in report.per_parameter.items()}
    assert {k: (p.kind, p.factor) for k, p in wired.items() if p is not None} == {
        "W2": ("scale", 2.0), "b1": ("scale", 4.0)}


# -- wired in: the reports of every check --------------------------------------------------
def test_report_prints_the_pattern_under_each_failing_parameter():
    model = bugs.make_model("sign_error", 0)
    X, y = data(model, 0)
    report = ge.check_model(bugs.inject(model, "sign_error"), X, y)
    rows = report.per_parameter
    assert rows["W2"].pattern.kind == "sign"
    assert all(rows[k].pattern is None for k in rows if k != "W2")
    text = str(report).splitlines()
    at = next(i for i, line in enumerate(text) if line.split()[:1] == ["W2"])
    assert text[at + 1].strip().startswith("pattern: analytic = -1 x numerical in all 24")
    assert sum("pattern:" in line for line in text) == 1
    assert "<i>pattern: analytic = -1 x numerical in all 24 components" in report._repr_html_()
    # the generic path reads the same pattern as the structure-aware one
    slow = ge.check_model(bugs.inject(model, "sign_error"), X, y, fast=False)
    assert str(slow.per_parameter["W2"].pattern) == str(rows["W2"].pattern)


def test_check_layer_rows_x_and_each_parameter():
    x = np.random.default_rng(0).standard_normal((8, 5))
    report = ge.check_layer(BuggyLinear(5, 4, "sign"), x)
    assert report.per_parameter["x"].pattern.kind == "sign"
    assert report.per_parameter["W"].pattern is None and report.per_parameter["b"].pattern is None
    report = ge.check_layer(BuggyLinear(5, 4, "dW /= N"), x)
    p = report.per_parameter["W"].pattern
    assert (p.kind, p.factor) == ("scale", 1 / 8) and "8 is the batch size" in str(p)
    p = ge.check_layer(BuggyLinear(5, 4, "dx never written"), x).per_parameter["x"].pattern
    assert p.kind == "zero"


def test_sampled_and_directional_reports():
    model = bugs.make_model("missing_1_over_m", 0, layer_sizes=[4, 8, 3])
    X, y = data(model, 0, n=6)
    buggy = bugs.inject(model, "missing_1_over_m")
    report = ge.check_model(buggy, X, y, n_samples=20, seed=0)
    sampled = [r.pattern for r in report.per_parameter.values() if r.pattern is not None]
    assert sampled and all(p.kind in ("scale", "unknown") for p in sampled)
    assert any(p.factor == 6.0 and "sampled components" in str(p) for p in sampled)

    def f(t):
        return float(np.sum(np.sin(t["w"])) + 0.5 * np.sum(t["v"] ** 2))

    theta = {"w": np.linspace(-1, 1, 12), "v": np.linspace(0.5, 2, 9)}
    wrong = {"w": 3 * np.cos(theta["w"]), "v": theta["v"] + 0.1}
    report = ge.directional_check(f, wrong, theta, n_directions=6, seed=0)
    p = report.per_parameter["w"].pattern
    assert (p.kind, p.factor, p.support) == ("scale", 3.0, 6) and "6 directions" in str(p)
    p = report.per_parameter["v"].pattern
    assert p.kind == "unknown" and "only a constant factor, a sign or zeros" in str(p)
    few = ge.directional_check(f, wrong, theta, n_directions=3, seed=0).per_parameter["w"]
    assert few.pattern.kind == "unknown" and "too few" in str(few.pattern)


def test_plot_pattern_draws_each_kind():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gradcheck_edu.plots import plot_pattern

    x = np.random.default_rng(0).standard_normal((8, 5))
    cases = [("dW /= N", 4, "W"), ("missing .T", 5, "W"), ("one unit", 4, "W"),
             ("dx never written", 4, "x")]
    for bug, n_out, name in cases:
        report = ge.check_layer(BuggyLinear(5, n_out, bug), x)
        pattern = report.per_parameter[name].pattern
        fig = plot_pattern(report, name)
        ax = fig.axes[0]
        labels = ax.get_legend_handles_labels()[1]
        assert any(label.startswith("pattern:") for label in labels), (bug, labels)
        assert pattern.kind in ax.get_title(loc="left")
        if pattern.kind == "scale":
            red = [ln for ln in ax.lines if ln.get_label().startswith("pattern")][0]
            xs, ys = red.get_data()
            assert np.allclose(ys, pattern.factor * xs)
        plt.close(fig)
    fig, ax = plt.subplots()
    assert plot_pattern(report, "b", ax=ax) is fig  # a parameter that passed: no pattern
    assert "no pattern" in ax.get_title(loc="left")
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        plot_pattern(report, "nope")
    plt.close("all")


def test_batch_of_one_softmax_bug_names_the_label_column():
    """As the README says: with one sample, the forgotten one-hot is a wrong column, y's."""
    for seed in range(4):
        model = bugs.make_model("softmax_no_onehot", seed)
        X = np.random.default_rng(seed).standard_normal((1, 3))
        y = np.array([seed % 4])
        p = ge.check_model(bugs.inject(model, "softmax_no_onehot"), X, y).per_parameter["W2"]
        assert (p.pattern.kind, p.pattern.where.axis, tuple(p.pattern.where)) == (
            "subset", "columns", (int(y[0]),))


def test_readme_example_prints_what_the_code_prints():
    model = MLP([3, 6, 4], activation="tanh", seed=0)
    X, y = np.random.default_rng(0).standard_normal((8, 3)), np.arange(8) % 4
    report = ge.check_model(bugs.inject(model, "missing_1_over_m"), X, y)
    p = report.per_parameter["W1"].pattern
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    pad = " " * 29
    assert f"p.kind, p.factor, p.support{pad}# {(p.kind, p.factor, p.support)}" in readme
    assert f"print(p)  # {p}\n" in readme


if __name__ == "__main__":  # print the README's table
    print(zoo_table())
