"""Issue 23, the short path: one judge (``check.judge_parameter``) for every check, every
report saying which path computed it, one validation of theta, and a target that owns its loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradcheck_edu as ge
from gradcheck_edu import Verdict, check, directional, taylor
from gradcheck_edu.verdicts import DecidedBy

TH = np.array([0.3, -1.2, 2.0])


def _sin_sum(t):
    return float(np.sum(np.sin(t)))


# -- every check is judged by judge_parameter ---------------------------------------------------

@pytest.mark.parametrize("module, run", [
    (check, lambda: ge.gradient_check(_sin_sum, np.cos, TH.copy())),
    (directional, lambda: ge.directional_check(_sin_sum, np.cos, TH.copy(), seed=0)),
    (taylor, lambda: ge.taylor_test(_sin_sum, np.cos, TH.copy(), seed=0)),
])
def test_each_check_calls_the_one_judge(module, run, monkeypatch):
    calls = []
    original = check.judge_parameter

    def spy(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "judge_parameter", spy)
    result = run()
    assert calls and all(isinstance(e, check.Evidence) for e in calls)
    assert result.verdict is Verdict.EXCELLENT


def test_check_model_and_check_layer_use_the_same_judge(monkeypatch):
    calls = []
    original = check.judge_parameter

    def spy(*args, **kwargs):
        calls.append(type(args[0]).__name__)
        return original(*args, **kwargs)

    monkeypatch.setattr(check, "judge_parameter", spy)
    model = ge.nn.MLP([3, 4, 2], activation="tanh", seed=0)
    X, y = np.random.default_rng(0).standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    for fast in (True, False):
        calls.clear()
        report = ge.check_model(model, X, y, fast=fast)
        assert report.passed and len(calls) == len(model.params)
    calls.clear()
    assert ge.check_layer(ge.nn.Linear(3, 2, rng=0), X).passed and calls


# -- the Taylor test: its verdict is the judge's ------------------------------------------------

def test_taylor_reports_the_judges_numbers_and_its_path():
    right = ge.taylor_test(_sin_sum, np.cos, TH, seed=0)
    assert right.verdict is Verdict.EXCELLENT and right.relative_error < 1e-7
    assert right.decided_by in tuple(DecidedBy) and "Taylor" in right.path
    assert "path: Taylor" in str(right) and abs(right.rate - 2) < 0.1
    wrong = ge.taylor_test(_sin_sum, lambda t: 1.1 * np.cos(t), TH, seed=0)
    assert wrong.verdict is Verdict.WRONG and wrong.relative_error > 1e-2


def test_taylor_does_not_pass_a_mismatch_it_resolves():
    # a gradient 1e-6 too large: the remainder still looks like h**2 at these steps (rate 2.1,
    # which passed before), but the extrapolated directional derivative resolves the mismatch
    # far above its error: as in gradient_check, that is not a pass (rule 5)
    res = ge.taylor_test(_sin_sum, lambda t: np.cos(t) * (1 + 1e-6), TH, seed=0)
    assert res.rate > 1.8 and not res.passed
    assert res.verdict is Verdict.SUSPICIOUS and res.decided_by is DecidedBy.RESOLVED_MISMATCH
    assert "times what the finite difference can err by" in res.note


def test_taylor_with_steps_too_large_for_f_cannot_tell():
    # log at 2e-6 with steps from 0.1: no step is in the asymptotic range (the rate 1.4 is
    # neither 1 nor 2), and the right gradient was rated by that rate before
    f, g = (lambda t: float(np.sum(np.log(t)))), (lambda t: 1 / t)
    res = ge.taylor_test(f, g, np.array([2e-6, 1.0]), direction=np.array([0.6, 0.8]))
    assert res.verdict is Verdict.CANNOT_TELL and "smaller" in str(res)
    fine = ge.taylor_test(f, g, np.array([2e-6, 1.0]), direction=np.array([0.6, 0.8]),
                          h0=1e-7)
    assert fine.verdict is Verdict.EXCELLENT


def test_taylor_in_float32_never_calls_a_right_gradient_wrong():
    # a loss summed from cancelling float32 terms: the rate alone called this WRONG every time
    f = lambda t: float(np.sum(t**2 * np.sin(t)))  # noqa: E731
    g = lambda t: 2 * t * np.sin(t) + t**2 * np.cos(t)  # noqa: E731
    theta = np.linspace(-1, 1, 6).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ge.PrecisionWarning)
        verdicts = [ge.taylor_test(f, g, theta, seed=s).verdict for s in range(40)]
        wrong = ge.taylor_test(f, lambda t: 1.1 * g(t), theta, seed=0)
    assert Verdict.WRONG not in verdicts and wrong.verdict is Verdict.WRONG


# -- the directional check: its truncation is measured through the judge -----------------------

def test_directional_near_miss_of_truncation_cannot_tell():
    # t**3 at 0 with a large step: the central difference errs by h**2 (truncation), the judge
    # asks DirectionalEvidence to measure it, and the right gradient is not accused
    f = lambda t: float(np.sum(t**3))  # noqa: E731
    report = ge.directional_check(f, lambda t: 3 * t**2, np.zeros(4), eps=1e-2, seed=0)
    assert report.verdict is not Verdict.WRONG and not report.per_parameter["theta"].pattern
    wrong = ge.directional_check(f, lambda t: 3 * t**2 + 1e-2, np.zeros(4), eps=1e-2, seed=0)
    assert wrong.verdict is Verdict.WRONG
