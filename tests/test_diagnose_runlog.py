"""RunLog: one JSON line per run, appended atomically; crashes and concurrent writers lose
nothing but the crashed run itself."""

import multiprocessing
import os
import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pytest

from gradcheck_edu import diagnose as dg

matplotlib.use("Agg")


def test_runlog_appends_and_reads_back(tmp_path):
    path = tmp_path / "runs.jsonl"
    for lr in (0.1, 0.01):
        log = dg.RunLog(path, hyperparams={"lr": lr, "sizes": (2, 8, 3)}, seed=1, name=f"lr{lr}")
        log.log_epoch(train_loss=np.float64(1.0), acc=np.array(0.5))
        log.log_history({"train_loss": [0.5, 0.25], "val_loss": [0.6, float("nan")]})
        log.save()
    runs = dg.load_runs(path)
    assert [r["hyperparams"]["lr"] for r in runs] == [0.1, 0.01]
    assert runs[0]["hyperparams"]["sizes"] == [2, 8, 3]
    assert [m["train_loss"] for m in runs[1]["metrics"]] == [1.0, 0.5, 0.25]
    assert runs[1]["metrics"][2]["val_loss"] == "nan"
    assert runs[0]["versions"]["numpy"] == np.__version__ and "started" in runs[0]
    assert path.read_text().count("\n") == 2  # one line per run, nothing rewritten


def test_an_error_while_serializing_leaves_the_file_alone(tmp_path):
    path = tmp_path / "runs.jsonl"
    dg.RunLog(path, hyperparams={"lr": 0.1}).save()
    before = path.read_bytes()

    class Boom:  # a value whose repr fails half-way through a save
        def __repr__(self):
            raise RuntimeError("crash while saving")

    with pytest.raises(RuntimeError):
        dg.RunLog(path, hyperparams={"bad": Boom()}).save()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["runs.jsonl"]  # no temporary files left behind


_CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    from gradcheck_edu.diagnose import runlog

    real_write = os.write

    def write_half_then_die(fd, data):
        real_write(fd, data[: len(data) // 2])
        os._exit(3)  # killed in the middle of the write: no cleanup, no finally

    runlog.os.write = write_half_then_die
    runlog.RunLog(sys.argv[1], hyperparams={"lr": "crashed"}).save()
""")


def test_a_crash_in_the_middle_of_a_write_loses_only_that_run(tmp_path):
    path = tmp_path / "runs.jsonl"
    dg.RunLog(path, hyperparams={"lr": 1}).save()
    proc = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, str(path)])
    assert proc.returncode == 3
    assert not path.read_text().endswith("\n")  # a partial line really is in the file
    with pytest.warns(UserWarning, match="runs.jsonl:2"):
        assert [r["hyperparams"]["lr"] for r in dg.load_runs(path)] == [1]
    dg.RunLog(path, hyperparams={"lr": 3}).save()  # the next run starts on its own line
    with pytest.warns(UserWarning, match="runs.jsonl:2"):
        assert [r["hyperparams"]["lr"] for r in dg.load_runs(path)] == [1, 3]


def _append_runs(path, worker, n):
    for i in range(n):
        log = dg.RunLog(path, hyperparams={"worker": worker, "i": i})
        for epoch in range(100):  # lines of several kB: larger than a pipe's atomic write
            log.log_epoch(train_loss=1.0 / (epoch + 1), val_loss=1.1 / (epoch + 1))
        log.save()


def test_concurrent_writers_keep_every_run(tmp_path):
    path = tmp_path / "runs.jsonl"
    ctx = multiprocessing.get_context("fork" if "fork" in
                                      multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_append_runs, args=(path, w, 20)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    runs = dg.load_runs(path)
    assert len(runs) == 80
    assert sorted((r["hyperparams"]["worker"], r["hyperparams"]["i"]) for r in runs) == \
        [(w, i) for w in range(4) for i in range(20)]
    assert all(len(r["metrics"]) == 100 for r in runs)
    assert len(path.read_text().splitlines()) == 80


def test_the_log_file_gets_ordinary_permissions(tmp_path):
    path = tmp_path / "runs.jsonl"
    umask = os.umask(0o022)
    try:
        dg.RunLog(path).save()
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644  # 0o666 minus the umask, not mkstemp's 0o600


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_git_commit_comes_from_the_working_directory(tmp_path, monkeypatch):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    head = _git(repo, "rev-parse", "HEAD")
    logs = tmp_path / "elsewhere"  # the log lives outside any repository
    monkeypatch.chdir(repo)
    assert dg.RunLog(logs / "runs.jsonl").record["git_commit"] == head
    monkeypatch.chdir(logs.parent)  # not a repository: an explicit repo= still works
    assert dg.RunLog(logs / "runs.jsonl").record["git_commit"] is None
    assert dg.RunLog(logs / "runs.jsonl", repo=repo).record["git_commit"] == head


def test_plot_runs_draws_one_curve_per_run(tmp_path):
    from gradcheck_edu.plots import plot_runs

    path = tmp_path / "runs.jsonl"
    for lr in (0.1, 0.01):
        log = dg.RunLog(path, hyperparams={"lr": lr})
        log.log_history({"val_loss": [1.0, lr * 5, float("nan")]})
        log.save()
    fig = plot_runs(path)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["lr=0.1", "lr=0.01"]
    np.testing.assert_array_equal(lines[1].get_ydata(), [1.0, 0.05, np.nan])
    fig = plot_runs(dg.load_runs(path), metric="train_loss")  # a metric no run logged
    assert fig.axes[0].get_lines() == []
