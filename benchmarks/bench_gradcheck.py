"""Full gradient checks side by side: time, ratio to 2n*F, and accuracy, in one run.

F is one loss evaluation of the model, measured in the same run. A plain central-difference check
costs 2n*F; each way of checking is reported as a multiple of that, with its relative error
against the analytic (backprop) gradient.

    python benchmarks/bench_gradcheck.py            # both problems, then batch norm and dropout
    python benchmarks/bench_gradcheck.py --quick    # tiny problems, seconds (a smoke run)
    python benchmarks/bench_gradcheck.py --variants-only   # only batch norm and dropout
    python benchmarks/bench_gradcheck.py --structured-only # all but the ways costing ~2n*F

Ways compared:
  course loop     flatten theta, copy, unflatten into the model for every evaluation
  generic         the generic path (check_model(fast=False)'s finite differences: the model's
                  arrays perturbed in place), timed against a bare in-place loop of the same
                  2n loss calls, interleaved chunk by chunk: its ratio is its overhead
  scipy fprime    scipy.optimize.approx_fprime (one-sided: n + 1 evaluations) on a flat theta
  torch slow      torch.autograd.gradcheck(fast_mode=False), float64, when torch is installed;
                  its numerical gradient is the one slow mode computes, captured from
                  torch.autograd.gradcheck._get_numerical_jacobian
  structured      check_model(fast=True): cached activations, rank-1 updates, series
  sampled/dir.    check_model(n_samples=100) (default path and fast=False) and
                  directional_check: cost independent of n beyond one backprop

Then the models the notebooks use to show that batch norm and dropout are hard to check,
MLP([64, 64, 64, 10]) at batch 128 with batchnorm=True, and with dropout=0.2 (mask frozen): the
generic path (against its bare loop, as above) and the structure-aware path, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

import gradcheck_edu as ge
from gradcheck_edu.check import build_report
from gradcheck_edu.finite_diff import Estimate, make_target
from gradcheck_edu.nn import MLP

EPS = 1e-6
HEADER = f"{'way':<16}{'time (s)':>10}{'F (ms)':>9}{'x 2n*F':>9}{'rel. error vs backprop':>25}"


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


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def problem(sizes, batch, seed=0, **options):
    rng = np.random.default_rng(seed)
    model = MLP(sizes, activation="tanh", loss="softmax_cross_entropy", seed=seed, **options)
    model.freeze_dropout(seed)  # no dropout layers: nothing to freeze
    X = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    return model, X, y


def param_setter(model):
    """theta and a function that copies a flat vector into the model (unflatten + copy)."""
    theta, spec = ge.flatten(model.params)

    def set_params(t):
        new = spec.unflatten(t)
        for k in model.params:
            model.params[k][...] = new[k]

    return theta, set_params


# --------------------------------------------------------------------------- the ways


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


def generic_interleaved(model, X, y, chunks, analytic):
    """The generic path over all n components, in ``chunks`` pieces; each piece is also run as a
    bare in-place loop of the same loss calls (no checks, no bookkeeping: only the f calls),
    alternating which goes first. Returns (generic seconds, bare seconds, the ratio of each
    piece, report)."""
    _, spec = ge.flatten(model.params)
    n = spec.size
    bounds = np.linspace(0, n, chunks + 1).astype(np.int64)
    views = [model.params[leaf.name].reshape(-1) for leaf in spec.leaves]

    def f(_params):
        return model.loss(X, y)

    def bare(idx):
        plan = []  # (array, index, x, x + h, x - h), as Python objects: nothing left to compute
        for j in idx.tolist():
            k, _ = spec.leaf_index(j)
            v, i = views[k], j - spec.leaves[k].offset
            x = float(v[i])
            plan.append((v, i, x, x + EPS, x - EPS))
        values = []

        def loop():
            loss = model.loss
            for v, i, x, plus, minus in plan:
                v[i] = plus
                values.append(loss(X, y))
                v[i] = minus
                values.append(loss(X, y))
                v[i] = x
        return loop

    t_generic = t_bare = 0.0
    ratios, parts = [], []
    for c in range(chunks):
        idx = np.arange(bounds[c], bounds[c + 1])
        loop = bare(idx)
        order = ("generic", "bare") if c % 2 else ("bare", "generic")
        for which in order:
            if which == "bare":
                b = timed(loop)[0]
            else:
                g, est = timed(lambda idx=idx: Estimate(make_target(f, model.params), EPS,
                                                        "central", idx))
                parts.append(est)
        t_generic, t_bare = t_generic + g, t_bare + b
        ratios.append(g / b)
    # One report from the pieces: the same values the generic path computed, in theta order.
    first = parts[0]
    values = np.concatenate([p.values for p in parts])
    merged = Estimate.from_central_changes(
        first.target, np.concatenate([p.leaf for p in parts]),
        np.concatenate([p.flat for p in parts]), None, np.concatenate([p.moves for p in parts]),
        values - first.f0, first.f0)
    return t_generic, t_bare, ratios, build_report(merged, analytic, EPS, ge.DEFAULT_THRESHOLDS)


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
    """torch.autograd.gradcheck in slow mode on the same network, float64.

    Returns (gradcheck's verdict, the numerical gradient, how it was obtained). The numerical
    gradient is the one slow mode itself computes (captured from its internal
    ``_get_numerical_jacobian``); if that internal is gone, the same central differences are
    computed in torch after the timed call (and the note says so).
    """
    import importlib

    import torch

    tg = importlib.import_module("torch.autograd.gradcheck")  # the module: its name is also a
    # function's, which `import torch.autograd.gradcheck as tg` would give

    structure = model.layer_structure()
    weights = [torch.tensor(model.params[name], dtype=torch.float64, requires_grad=True)
               for layer in structure["layers"] for name in (layer["W"], layer["b"])]
    Xt, yt = torch.tensor(X), torch.tensor(y)
    acts = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, None: lambda z: z}

    def f(*ws):
        a = Xt
        for k, layer in enumerate(structure["layers"]):
            a = acts[layer["activation"]](a @ ws[2 * k] + ws[2 * k + 1])
        return torch.nn.functional.cross_entropy(a, yt)

    captured = []
    internal = getattr(tg, "_get_numerical_jacobian", None)
    if internal is not None:
        def capture(*args, **kwargs):
            jacobians = internal(*args, **kwargs)
            captured.append(jacobians)
            return jacobians
        tg._get_numerical_jacobian = capture
    try:
        ok = torch.autograd.gradcheck(f, tuple(weights), eps=EPS, atol=1e-5, rtol=1e-3,
                                      fast_mode=False)
    finally:
        if internal is not None:
            tg._get_numerical_jacobian = internal
    if captured:
        numerical = np.concatenate([np.asarray(jac[0].detach()).ravel()
                                    for jac in captured[0]])
        how = "numerical gradient captured from slow mode"
    else:  # the same central differences, in torch, outside the timing
        numerical = []
        with torch.no_grad():
            for w in weights:
                flat = w.view(-1)
                for i in range(flat.numel()):
                    x = flat[i].item()
                    flat[i] = x + EPS
                    fp = f(*weights).item()
                    flat[i] = x - EPS
                    fm = f(*weights).item()
                    flat[i] = x
                    numerical.append((fp - fm) / (2 * EPS))
        numerical = np.asarray(numerical)
        how = "numerical gradient recomputed in torch (slow mode's internal not found)"
    return ok, numerical, how


# --------------------------------------------------------------------------- the table


def compare(fast, generic):
    """How far apart the two paths' numbers are, and their verdicts, per parameter: identical,
    or where they differ, which is the better resolved (each path is judged by its own
    round-off, and the structure-aware path's is far smaller)."""
    apart = ge.relative_error(ge.flatten(fast.numerical)[0], ge.flatten(generic.numerical)[0])
    rows = [(k, p.verdict, generic.per_parameter[k].verdict)
            for k, p in fast.per_parameter.items()]
    better = [k for k, f, g in rows if f < g]
    worse = [k for k, f, g in rows if f > g]
    if worse:
        per = f"DIFFERENT, structured worse on {', '.join(worse)}"
    elif better:
        per = (f"identical but for {', '.join(better)}, better resolved by the structured path "
               f"(the generic one's round-off decides there)")
    else:
        per = "identical"
    return (f"structured vs generic: numerical gradients differ by {apart:.2e} (relative); "
            f"verdicts {fast.verdict.name} / {generic.verdict.name}, per parameter {per}")


def run(sizes, batch, chunks=8, f_block=0.3, slow=True):
    """Every way on one problem; ``slow=False`` times only the structure-aware path and the
    checks whose cost does not grow with n."""
    model, X, y = problem(sizes, batch)
    n = sum(v.size for v in model.params.values())
    F = loss_time(model, X, y, seconds=f_block)
    _, grads = model.loss_and_grads(X, y)
    grads = {k: g.copy() for k, g in grads.items()}
    analytic = np.concatenate([grads[k].ravel() for k in model.params])
    print(f"\nMLP({sizes}), tanh, softmax cross-entropy, batch {batch}, float64: n = {n}")
    print(f"F = {F * 1e3:.3f} ms per loss evaluation at the start, 2n*F = {2 * n * F:.2f} s")
    print("ratio = time / 2n*F, with F measured just before and just after each way (their mean;")
    print("F drifts during a long run); for 'generic', 2n*F is a bare in-place loop of the same")
    print(f"2n loss calls, interleaved with it in {chunks} chunks.")
    print(HEADER)

    def line(name, seconds, F_used, rel, note=""):
        rel_txt = f"{rel:.2e}" if rel is not None else "-"
        print(f"{name:<16}{seconds:>10.2f}{F_used * 1e3:>9.3f}"
              f"{seconds / (2 * n * F_used):>9.3f}{rel_txt:>25}  {note}", flush=True)

    def way(name, fn, rel_of=None, note_of=None):
        F_before = loss_time(model, X, y, repeats=3, seconds=f_block)
        seconds, out = timed(fn)
        F_around = 0.5 * (F_before + loss_time(model, X, y, repeats=3, seconds=f_block))
        line(name, seconds, F_around, rel_of(out) if rel_of else None,
             note_of(out) if note_of else "")
        return out

    def rel(g):
        return ge.relative_error(g, analytic)

    if slow:
        generic = slow_ways(model, X, y, chunks, analytic, way, line, rel)
    else:
        print("(course loop, generic, scipy fprime, torch slow: not run, --structured-only)")
    # Peak memory in a run of its own: tracemalloc slows every allocation, so the timed run is
    # not traced.
    tracemalloc.start()
    ge.check_model(model, X, y, eps=EPS, fast=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    fast = way("structured", lambda: ge.check_model(model, X, y, eps=EPS, fast=True),
               lambda r: r.relative_error,
               lambda r: f"{r.verdict.name}, peak extra memory {peak / 2**20:.0f} MB")
    if slow:
        print(compare(fast, generic))
    independent_of_n(model, X, y, grads, F)


def slow_ways(model, X, y, chunks, analytic, way, line, rel):
    """The ways that cost about 2n loss evaluations; returns the generic path's report."""
    n = analytic.size
    way("course loop", lambda: course_loop(model, X, y), rel,
        lambda g: "flatten/unflatten per evaluation")
    t_generic, t_bare, ratios, generic = generic_interleaved(model, X, y, chunks, analytic)
    line("generic", t_generic, t_bare / (2 * n), generic.relative_error,
         f"{generic.verdict.name}; bare loop {t_bare:.2f} s; {chunks} interleaved chunks, "
         f"ratio median {statistics.median(ratios):.3f} ({min(ratios):.3f} to "
         f"{max(ratios):.3f})")
    way("scipy fprime", lambda: scipy_fprime(model, X, y), rel,
        lambda g: "one-sided, n + 1 evaluations")
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{'torch slow':<16}{'skipped: torch is not installed':>40}")
    else:
        way("torch slow", lambda: torch_slow(model, X, y), lambda out: rel(out[1]),
            lambda out: f"gradcheck returned {out[0]}; {out[2]}")
    return generic


def independent_of_n(model, X, y, grads, F):
    # Sampled and directional checks: cost independent of n, beyond one backprop.
    B = statistics.median(timed(lambda: model.loss_and_grads(X, y))[0] for _ in range(5))
    print(f"cost independent of n (one backprop = {B * 1e3:.2f} ms = {B / F:.1f} F):")
    for name, fn in [
        ("sampled 100", lambda: ge.check_model(model, X, y, n_samples=100, seed=0)),
        ("sampled 100 generic",
         lambda: ge.check_model(model, X, y, n_samples=100, seed=0, fast=False)),
        ("directional 3", lambda: ge.directional_check(lambda p: model.loss(X, y), grads,
                                                       model.params, n_directions=3, seed=0)),
    ]:
        seconds, rep = min((timed(fn) for _ in range(3)), key=lambda t: t[0])
        print(f"  {name:<20}{seconds:>8.3f} s = {seconds / F:7.1f} F   rel. error "
              f"{rep.relative_error:.2e}  {rep.verdict.name}", flush=True)


def variants(sizes, batch, chunks=8, f_block=0.3):
    """Batch norm and frozen dropout: the generic and the structure-aware path side by side."""
    for label, options in (("batchnorm=True", {"batchnorm": True}),
                           ("dropout=0.2, frozen", {"dropout": 0.2})):
        variant(label, options, sizes, batch, chunks, f_block)


def variant(label, options, sizes, batch, chunks, f_block):
    model, X, y = problem(sizes, batch, **options)
    n = sum(v.size for v in model.params.values())
    _, grads = model.loss_and_grads(X, y)
    analytic = np.concatenate([grads[k].ravel() for k in model.params])
    F = loss_time(model, X, y, seconds=f_block)
    print(f"\nMLP({sizes}), tanh, {label}, softmax cross-entropy, batch {batch}, float64: "
          f"n = {n}, F = {F * 1e3:.3f} ms, 2n*F = {2 * n * F:.2f} s")
    print(HEADER)
    t_generic, t_bare, ratios, generic = generic_interleaved(model, X, y, chunks, analytic)
    F_bare = t_bare / (2 * n)
    print(f"{'generic':<16}{t_generic:>10.2f}{F_bare * 1e3:>9.3f}"
          f"{t_generic / t_bare:>9.3f}{generic.relative_error:>25.2e}  "
          f"{generic.verdict.name}; bare loop {t_bare:.2f} s; {chunks} interleaved chunks, "
          f"ratio median {statistics.median(ratios):.3f}", flush=True)
    F_before = loss_time(model, X, y, repeats=3, seconds=f_block)
    seconds, fast = timed(lambda: ge.check_model(model, X, y, eps=EPS, fast=True))
    F_around = 0.5 * (F_before + loss_time(model, X, y, repeats=3, seconds=f_block))
    print(f"{'structured':<16}{seconds:>10.2f}{F_around * 1e3:>9.3f}"
          f"{seconds / (2 * n * F_around):>9.3f}{fast.relative_error:>25.2e}  "
          f"{fast.verdict.name}", flush=True)
    print(compare(fast, generic))


def roundoff(sizes, batch, n_components=200):
    """How far each float64 estimate is from the exact value of its own formula.

    For a sample of components, (f(x + h) - f(x - h)) / (2h) is evaluated at the same float64
    points with the same h, but with the loss computed in extended precision (np.longdouble),
    so what remains in each float64 estimate is its round-off. Two estimates can agree no better
    than their round-offs allow.
    """
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
    generic = Estimate(make_target(lambda p: model.loss(X, y), model.params), EPS, "central",
                       idx).grad
    structured = ge.flatten(ge.check_model(model, X, y, eps=EPS, fast=True).numerical)[0][idx]
    _, grads = model.loss_and_grads(X, y)
    backprop = np.concatenate([grads[k].ravel() for k in names])[idx]
    print(f"\nround-off, MLP({sizes}), {idx.size} components: relative error against the same "
          f"central difference computed in extended precision:")
    print(f"  generic {ge.relative_error(generic, exact):.2e}, structured "
          f"{ge.relative_error(structured, exact):.2e}, backprop "
          f"{ge.relative_error(backprop, exact):.2e}; generic vs structured "
          f"{ge.relative_error(generic, structured):.2e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny problems: a smoke run")
    parser.add_argument("--roundoff-only", action="store_true",
                        help="only the round-off of each estimate (extended-precision reference)")
    parser.add_argument("--variants-only", action="store_true",
                        help="only the batch-norm and dropout models")
    parser.add_argument("--structured-only", action="store_true",
                        help="on the two problems, only the structure-aware path and the checks "
                             "whose cost does not grow with n (minutes instead of ten)")
    args = parser.parse_args(argv)
    if args.quick:
        problems, chunks, f_block, n_round = (([8, 16, 16, 4], 32), ([20, 10, 4], 16)), 2, 0.02, 20
        variant = ([8, 16, 16, 4], 32)
    else:
        problems, chunks, f_block, n_round = (([64, 128, 128, 10], 256), ([784, 100, 10], 64)), \
            32, 0.3, 200
        variant = ([64, 64, 64, 10], 128)
    if not (args.roundoff_only or args.variants_only):
        for sizes, batch in problems:
            run(sizes, batch, chunks=chunks, f_block=f_block, slow=not args.structured_only)
    if not args.roundoff_only:
        variants(*variant, chunks=chunks if args.quick else 16, f_block=f_block)
    if not args.variants_only:
        for sizes, batch in problems:
            roundoff(sizes, batch, n_components=n_round)


if __name__ == "__main__":
    main()
