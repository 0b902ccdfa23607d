"""The benchmark scripts still run (tiny sizes; no timing is asserted here)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gradcheck_benchmark_quick():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gradcheck.py"),
                          "--quick"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for way in ("course loop", "generic", "scipy fprime", "torch slow", "structured",
                "sampled 100", "sampled 100 generic", "directional 3", "round-off"):
        assert way in out.stdout, way
    assert "EXCELLENT" in out.stdout and "interleaved chunks" in out.stdout
    assert out.stdout.count("per parameter identical") == 4  # two problems, batch norm, dropout
    assert "batchnorm=True" in out.stdout and "dropout=0.2, frozen" in out.stdout
    # torch: a row with its relative error, or a note that it is not installed
    torch_rows = [line for line in out.stdout.splitlines() if line.startswith("torch slow")]
    assert len(torch_rows) == 2
    assert all("not installed" in row or "slow mode" in row for row in torch_rows)


def test_versions_benchmark_runs_against_a_checkout():
    # this checkout against itself: both columns are filled, and the ratio is printed
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_versions.py"),
                          str(ROOT), "--quick", "--rounds", "1"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith(("MLP", "batch"))]
    assert len(rows) == 4 and all(float(r[-1]) > 0 for r in rows)
    assert {r[-4] for r in rows} == {"fast", "generic"}


def test_train_step_benchmark_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train_step.py"),
                          "--steps", "2", "--rounds", "1"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "numpy float32" in out.stdout and "numpy float64" in out.stdout
    # with torch: the parameters after a few steps agree with PyTorch's
    assert "not installed" in out.stdout or "PyTorch's within" in out.stdout


@pytest.mark.course
def test_grading_benchmark_runs():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_grading.py"),
                          "--n", "2", "--jobs", "2"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "of otter run" in line]
    assert [r.split()[0] for r in rows] == ["otter", "isolated,", "isolated,"]
    assert all("scores [0.0, 36.0]" in r for r in rows[1:])  # the isolated grader, both ways
