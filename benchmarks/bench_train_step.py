"""Training-step time of gradcheck_edu's NumPy MLP next to PyTorch (CPU), in one run.

MLP [784, 256, 256, 10], ReLU, softmax cross-entropy, batch 128, one SGD step (forward,
backward, update). Each configuration is timed in interleaved rounds; the median is reported
with the ratio to PyTorch at the same dtype.

    python benchmarks/bench_train_step.py [--steps 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gradcheck_edu.nn import MLP, SGD

SIZES, BATCH = [784, 256, 256, 10], 128


def numpy_step(dtype):
    rng = np.random.default_rng(0)
    model = MLP(SIZES, activation="relu", seed=0, dtype=dtype)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    opt = SGD(0.01)

    def step():
        _, grads = model.loss_and_grads(X, y)
        opt.step(model.params, grads)
    return step


def torch_net(dtype, params=None):
    """PyTorch's network; with ``params`` (an MLP's), starting from the same weights."""
    import torch

    torch.manual_seed(0)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    layers = []
    for k, (m, n) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(m, n, dtype=tdtype))
        if params is not None:
            with torch.no_grad():
                layers[-1].weight.copy_(torch.from_numpy(params[f"W{k + 1}"].T.copy()))
                layers[-1].bias.copy_(torch.from_numpy(params[f"b{k + 1}"]))
        if k < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_step(dtype):
    import torch

    net = torch_net(dtype)
    tdtype = next(net.parameters()).dtype
    X = torch.randn(BATCH, SIZES[0], dtype=tdtype)
    y = torch.randint(0, SIZES[-1], (BATCH,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(net(X), y).backward()
        opt.step()
    return step


def agreement(dtype, steps=5):
    """Largest difference between NumPy's and PyTorch's parameters after ``steps`` SGD steps from
    the same weights on the same batch, relative to each parameter's largest entry."""
    import torch

    rng = np.random.default_rng(1)
    model = MLP(SIZES, activation="relu", seed=0, dtype=dtype)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    net = torch_net(dtype, model.params)
    opt, topt = SGD(0.01), torch.optim.SGD(net.parameters(), lr=0.01)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(steps):
        _, grads = model.loss_and_grads(X, y)
        opt.step(model.params, grads)
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt), yt).backward()
        topt.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    worst = 0.0
    for k, lin in enumerate(linears, start=1):
        for name, theirs in ((f"W{k}", lin.weight.detach().numpy().T),
                             (f"b{k}", lin.bias.detach().numpy())):
            ours = model.params[name]
            worst = max(worst, float(np.abs(ours - theirs).max() / np.abs(theirs).max()))
    return worst


def time_per_step(step, steps):
    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    configs = {f"numpy {np.dtype(dt).name}": numpy_step(dt) for dt in (np.float32, np.float64)}
    try:
        import torch
        configs.update({f"torch {np.dtype(dt).name}": torch_step(dt)
                        for dt in (np.float32, np.float64)})
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        print("torch is not installed: NumPy timings only (pip install torch for the comparison)")
    times = {name: [] for name in configs}
    for _ in range(args.rounds):  # interleaved, so load changes hit every configuration
        for name, step in configs.items():
            times[name].append(time_per_step(step, args.steps))
    print(f"MLP {SIZES}, batch {BATCH}, one SGD step; median of {args.rounds} rounds of "
          f"{args.steps} steps")
    for name, ts in times.items():
        med = statistics.median(ts)
        dtype = name.split()[1]
        ref = times.get(f"torch {dtype}")
        ratio = f"  {med / statistics.median(ref):.2f}x torch {dtype}" if ref else ""
        print(f"{name:<16}{med * 1e3:8.3f} ms/step{ratio}")
    if any(name.startswith("torch") for name in times):
        for dt in (np.float32, np.float64):
            print(f"after 5 steps from the same weights, numpy {np.dtype(dt).name} parameters "
                  f"equal PyTorch's within {agreement(dt):.1e} (relative to each one's largest "
                  f"entry)")


if __name__ == "__main__":
    main()
