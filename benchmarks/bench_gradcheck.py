"""Full gradient checks side by side: time, ratio to 2n*F, and accuracy, in one run.

F is one loss evaluation of the model, measured in the same run (median of repeated blocks).
A plain central-difference check costs 2n*F; each way of checking is reported as a multiple of
that, with its relative error against the analytic (backprop) gradient.

    python benchmarks/bench_gradcheck.py            # both problems of the issue
    python benchmarks/bench_gradcheck.py --quick    # tiny problems, seconds (a smoke run)

Ways compared:
  course loop     flatten theta, copy, unflatten into the model for every evaluation
  generic         gradcheck_edu.check_model(fast=False): perturb the model's arrays in place
  scipy           scipy.optimize.approx_fprime (one-sided: n + 1 evaluations) on a flat theta
  torch slow      torch.autograd.gradcheck(fast_mode=False), float64, when torch is installed
  structured      gradcheck_edu.check_model(fast=True): cached activations, rank-1 updates
  sampled/dir.    check_model(n_samples=100) and directional_check: cost independent of n
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

import gradcheck_edu as ge
from gradcheck_edu.nn import MLP

EPS = 1e-6


def loss_time(model, X, y, repeats=5, seconds=0.5):
    """Median seconds of one model.loss call, in blocks of about ``seconds`` after a warm-up
    (short bursts run at a different clock and cache state than the long loops measured)."""
    t = time.perf_counter()
    calls = 0
    while time.perf_counter() - t < seconds:  # warm-up, and the block size
        model.loss(X, y)
        calls += 1
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            model.loss(X, y)
        times.append((time.perf_counter() - t) / calls)
    return statistics.median(times)


def param_setter(model):
    """theta and a function that copies a flat vector into the model (unflatten + copy)."""
    theta, spec = ge.flatten(model.params)

    def set_params(t):
        new = spec.unflatten(t)
        for k in model.params:
            model.params[k][...] = new[k]

    return theta, set_params


def course_loop(model, X, y):
    """The course-assignment way: a new theta and unflatten for every evaluation."""
    theta, set_params = param_setter(model)
    grad = np.empty_like(theta)
    try:
        for i in range(theta.size):
            tp = theta.copy()
            tp[i] += EPS
            set_params(tp)
            fp = model.loss(X, y)
            tm = theta.copy()
            tm[i] -= EPS
            set_params(tm)
            fm = model.loss(X, y)
            grad[i] = (fp - fm) / (2 * EPS)
    finally:
        set_params(theta)
    return grad


def scipy_fprime(model, X, y):
    from scipy.optimize import approx_fprime

    theta, set_params = param_setter(model)

    def f(t):
        set_params(t)
        return model.loss(X, y)

    try:
        return approx_fprime(theta, f, EPS)
    finally:
        set_params(theta)


def torch_slow(model, X, y):
    """torch.autograd.gradcheck in slow mode on the same network; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    structure = model.layer_structure()
    weights = [torch.tensor(model.params[name], dtype=torch.float64, requires_grad=True)
               for layer in structure["layers"] for name in (layer["W"], layer["b"])]
    Xt = torch.tensor(X)
    yt = torch.tensor(y)
    acts = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, None: lambda z: z}

    def f(*ws):
        a = Xt
        for k, layer in enumerate(structure["layers"]):
            a = acts[layer["activation"]](a @ ws[2 * k] + ws[2 * k + 1])
        return torch.nn.functional.cross_entropy(a, yt)

    return torch.autograd.gradcheck(f, tuple(weights), eps=EPS, atol=1e-5, rtol=1e-3,
                                    fast_mode=False)


def overhead(sizes, batch, n_components=2000, rounds=6):
    """The generic path against a bare in-place central-difference loop on the same components,
    interleaved (alternating which goes first): what the generic path adds to the f calls."""
    from gradcheck_edu.finite_diff import _Estimate

    model, X, y = problem(sizes, batch)
    W = model.params["W1"].reshape(-1)  # a view: the model's own array
    idx = np.linspace(0, W.size - 1, min(n_components, W.size)).astype(np.int64)

    def bare():
        for i in idx:
            x = W[i]
            W[i] = x + EPS
            a = model.loss(X, y)
            W[i] = x - EPS
            b = model.loss(X, y)
            W[i] = x
            _ = (a - b) / (2 * EPS)

    def generic():
        _Estimate(lambda p: model.loss(X, y), model.params, EPS, "central", idx)

    times = {"bare": [], "generic": []}
    for r in range(rounds):
        order = [("bare", bare), ("generic", generic)]
        for name, fn in (order if r % 2 else order[::-1]):
            times[name].append(timed(fn)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\ngeneric path vs a bare in-place loop, MLP({sizes}), {idx.size} components of W1, "
          f"{rounds} interleaved rounds: bare {med['bare']:.2f} s, generic {med['generic']:.2f} s, "
          f"ratio {med['generic'] / med['bare']:.3f}")


def roundoff(sizes, batch, n_components=200):
    """How far each float64 estimate is from the exact value of its own formula.

    For a sample of components, (f(x + h) - f(x - h)) / (2h) is evaluated at the same float64
    points with the same h, but with the loss computed in extended precision (np.longdouble),
    so what remains in each float64 estimate is its round-off. Two estimates can agree no better
    than their round-offs allow.
    """
    from gradcheck_edu.finite_diff import _Estimate

    model, X, y = problem(sizes, batch)
    ld = np.longdouble
    if np.finfo(ld).eps >= np.finfo(np.float64).eps:
        print("\nround-off: skipped, np.longdouble is no wider than float64 on this platform")
        return
    names = list(model.params)
    idx = np.linspace(0, sum(v.size for v in model.params.values()) - 1,
                      n_components).astype(np.int64)
    _, spec = ge.flatten(model.params)
    Xl = X.astype(ld)

    def loss_ld(params):
        a = Xl
        for k in range(1, len(sizes)):
            a = a @ params[f"W{k}"] + params[f"b{k}"]
            if k < len(sizes) - 1:
                a = np.tanh(a)
        m = a.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(a - m).sum(axis=1))
        return np.mean(lse - a[np.arange(len(y)), y])

    exact = np.empty(idx.size, dtype=ld)
    params_ld = {k: v.astype(ld) for k, v in model.params.items()}
    for j, i in enumerate(idx):
        name, index = spec.locate(int(i))
        x = model.params[name][index]
        h = (x + EPS) - x  # the step float64 represents, as the estimators use
        values = []
        for point in (x + h, x - h):  # the same float64 points the estimators evaluate at
            params_ld[name][index] = ld(point)
            values.append(loss_ld(params_ld))
        params_ld[name][index] = ld(x)
        exact[j] = (values[0] - values[1]) / (2 * ld(h))
    exact = exact.astype(np.float64)  # its own rounding is far below what is measured here
    generic = _Estimate(lambda p: model.loss(X, y), model.params, EPS, "central", idx).grad
    structured = ge.flatten(ge.check_model(model, X, y, eps=EPS, fast=True).numerical)[0][idx]
    _, grads = model.loss_and_grads(X, y)
    backprop = np.concatenate([grads[k].ravel() for k in names])[idx]
    print(f"\nround-off, MLP({sizes}), {idx.size} components: relative error against the same "
          f"central difference computed in extended precision:")
    print(f"  generic {ge.relative_error(generic, exact):.2e}, structured "
          f"{ge.relative_error(structured, exact):.2e}, backprop "
          f"{ge.relative_error(backprop, exact):.2e}; generic vs structured "
          f"{ge.relative_error(generic, structured):.2e}")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def problem(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    model = MLP(sizes, activation="tanh", loss="softmax_cross_entropy", seed=seed)
    X = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    return model, X, y


def run(sizes, batch, skip_slow=False, f_block=0.3):
    model, X, y = problem(sizes, batch)
    n = sum(v.size for v in model.params.values())
    F = loss_time(model, X, y, seconds=f_block)
    _, grads = model.loss_and_grads(X, y)
    grads = {k: g.copy() for k, g in grads.items()}
    analytic = np.concatenate([grads[k].ravel() for k in model.params])
    print(f"\nMLP({sizes}), tanh, softmax cross-entropy, batch {batch}, float64: n = {n}")
    print(f"F = {F * 1e3:.3f} ms per loss evaluation at the start, 2n*F = {2 * n * F:.2f} s")
    print("Each way's ratio uses F measured just before and just after it (their mean): F drifts")
    print("during a long run, and only a bracketing F makes the ratio a measure of overhead.")
    print(f"{'way':<16}{'time (s)':>10}{'F (ms)':>9}{'x 2n*F':>9}{'rel. error vs backprop':>25}")

    def way(name, fn, rel_of=None, note_of=None):
        F_before = loss_time(model, X, y, repeats=3, seconds=f_block)
        seconds, out = timed(fn)
        F_around = 0.5 * (F_before + loss_time(model, X, y, repeats=3, seconds=f_block))
        rel = rel_of(out) if rel_of else None
        rel_txt = f"{rel:.2e}" if rel is not None else "-"
        note = note_of(out) if note_of else ""
        print(f"{name:<16}{seconds:>10.2f}{F_around * 1e3:>9.3f}"
              f"{seconds / (2 * n * F_around):>9.3f}{rel_txt:>25}  {note}")
        return out

    def report_rel(rep):
        return rep.relative_error

    def verdict(rep):
        return rep.verdict.name

    if not skip_slow:
        way("course loop", lambda: course_loop(model, X, y),
            lambda g: ge.relative_error(g, analytic))
        rep = way("generic", lambda: ge.check_model(model, X, y, eps=EPS, fast=False),
                  report_rel, verdict)
        generic = ge.flatten(rep.numerical)[0]
        way("scipy fprime", lambda: scipy_fprime(model, X, y),
            lambda g: ge.relative_error(g, analytic), lambda g: "one-sided, n + 1 evaluations")
        try:
            import torch  # noqa: F401
        except ImportError:
            print(f"{'torch slow':<16}{'skipped: torch is not installed':>40}")
        else:
            way("torch slow", lambda: torch_slow(model, X, y), None,
                lambda ok: f"gradcheck returned {ok}")
    # Peak memory in a run of its own: tracemalloc slows every allocation, so the timed run is
    # not traced.
    tracemalloc.start()
    ge.check_model(model, X, y, eps=EPS, fast=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rep = way("structured", lambda: ge.check_model(model, X, y, eps=EPS, fast=True), report_rel,
              lambda r: f"{r.verdict.name}, peak extra memory {peak / 2**20:.0f} MB")
    if not skip_slow:
        print(f"structured vs generic numerical gradients: relative error "
              f"{ge.relative_error(ge.flatten(rep.numerical)[0], generic):.2e}")
    way("sampled 100", lambda: ge.check_model(model, X, y, n_samples=100, seed=0, fast=False),
        report_rel, verdict)
    way("directional 3", lambda: ge.directional_check(lambda p: model.loss(X, y), grads,
                                                      model.params, n_directions=3, seed=0),
        report_rel, verdict)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny problems: a smoke run")
    parser.add_argument("--overhead-only", action="store_true",
                        help="only the interleaved generic-vs-bare comparison")
    parser.add_argument("--roundoff-only", action="store_true",
                        help="only the round-off of each estimate (extended-precision reference)")
    args = parser.parse_args(argv)
    if args.quick:
        run([8, 16, 16, 4], 32, f_block=0.02)
        run([20, 10, 4], 16, f_block=0.02)
        overhead([8, 16, 16, 4], 32, n_components=50, rounds=2)
        roundoff([8, 16, 16, 4], 32, n_components=20)
        return
    problems = ([64, 128, 128, 10], 256), ([784, 100, 10], 64)
    if not (args.overhead_only or args.roundoff_only):
        for sizes, batch in problems:
            run(sizes, batch)
    if not args.roundoff_only:
        for sizes, batch in problems:
            overhead(sizes, batch)
    if not args.overhead_only:
        for sizes, batch in problems:
            roundoff(sizes, batch)


if __name__ == "__main__":
    main()
