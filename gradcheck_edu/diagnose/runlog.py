"""Experiment tracking with no server: one JSON line per run, appended atomically.

Each run is one line, written with a single ``os.write`` to a file opened with ``O_APPEND``
(under an exclusive ``flock`` where the platform has one): concurrent writers never
interleave or overwrite each other's runs, and earlier runs are never rewritten. A process
killed in the middle of a write can leave at most one incomplete last line; the next save
starts on a new line and :func:`load_runs` skips the broken line with a warning.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: O_APPEND alone
    fcntl = None

__all__ = ["RunLog", "load_runs", "compare_runs"]


def _jsonable(value: Any, where: str = "the record", _path: tuple = ()) -> Any:
    """``value`` as JSON-ready data, or a ValueError that says which entry cannot be.

    A container that contains itself would recurse forever, and a dict whose keys differ only
    in type (``1`` and ``"1"``) would silently lose one entry, since JSON keys are strings:
    both are refused, naming the entry.
    """
    if isinstance(value, (dict, list, tuple)):
        if any(value is seen for seen in _path):
            raise ValueError(f"{where} contains itself (a dict or list that refers to itself); "
                             "log plain values")
        _path = _path + (value,)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if key in out:
                raise ValueError(f"{where} has two keys that both become {key!r} in JSON "
                                 f"({[kk for kk in value if str(kk) == key]}); rename one")
            out[key] = _jsonable(v, f"{where}[{k!r}]", _path)
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{j}]", _path) for j, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where, _path)
    if isinstance(value, np.generic):
        return _jsonable(value.item(), where, _path)
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no NaN/Inf
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _git_commit(repo: str | os.PathLike | None) -> str | None:
    """HEAD of the git repository at ``repo`` (default: the current working directory)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo or os.getcwd(),
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from ..version import __version__

    return {"python": platform.python_version(), "numpy": np.__version__,
            "gradcheck_edu": __version__}


def _append_line(path: Path, line: str) -> None:
    """Append one complete line with a single write, holding an exclusive lock."""
    data = line.encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)  # the umask applies
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data  # a crashed writer left a partial line: start a new one
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


class RunLog:
    """Record one training run: hyperparameters, seed, per-epoch metrics, versions, git commit.

    :meth:`save` appends the run to a JSON-lines file (one run per line) in one atomic
    append; :func:`load_runs` reads them back, :func:`compare_runs` ranks them and
    :func:`gradcheck_edu.plots.plot_runs` draws their curves.

    Parameters
    ----------
    path : path-like
        The JSON-lines file (created if missing).
    hyperparams : dict, optional
    seed : optional
    name, notes : str, optional
    repo : path-like, optional
        The git repository whose commit is recorded (default: the one containing the current
        working directory, where the training code usually runs from; None if there is none).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "runs.jsonl")
    >>> log = RunLog(path, hyperparams={"lr": 0.01, "hidden": 64}, seed=0)
    >>> log.log_epoch(train_loss=1.0, val_loss=1.1)
    >>> log.log_epoch(train_loss=0.5, val_loss=0.7)
    >>> log.save()
    >>> runs = load_runs(path)
    >>> runs[0]["hyperparams"]["lr"], [m["train_loss"] for m in runs[0]["metrics"]]
    (0.01, [1.0, 0.5])
    """

    def __init__(self, path: str | os.PathLike, hyperparams: dict | None = None,
                 seed: Any = None, name: str | None = None, notes: str = "",
                 repo: str | os.PathLike | None = None):
        self.path = Path(path)
        self.record: dict[str, Any] = {
            "name": name,
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            # checked now, not when the run ends: a bad entry is named before training
            "hyperparams": _jsonable(dict(hyperparams or {}), "hyperparams"),
            "seed": seed,
            "versions": _versions(),
            "git_commit": _git_commit(repo),
            "notes": notes,
            "metrics": [],
        }

    def log_epoch(self, **metrics: Any) -> None:
        """Add one epoch's metrics (train_loss=..., val_acc=..., ...)."""
        self.record["metrics"].append(_jsonable(metrics))

    def log_history(self, history: Any) -> None:
        """Add every epoch of a training History (an object with ``as_dict()`` or a dict of
        equal-length lists)."""
        data = history.as_dict() if hasattr(history, "as_dict") else dict(history)
        keys = [k for k, v in data.items() if isinstance(v, (list, tuple, np.ndarray))]
        n = max((len(data[k]) for k in keys), default=0)
        for i in range(n):
            self.log_epoch(**{k: data[k][i] for k in keys if i < len(data[k])})

    def save(self) -> None:
        """Append this run to the file as one line, atomically (see the module docstring).

        The whole line is built before the file is touched, so an error while serializing
        (a value that cannot be converted) leaves the file as it was.
        """
        line = json.dumps(_jsonable(self.record), allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _append_line(self.path, line)


def load_runs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run in a JSON-lines log, oldest first.

    A line that is not valid JSON (a run cut off by a crash in the middle of its write) is
    skipped with a UserWarning naming the file and line; the other runs load.
    """
    path = Path(path)
    if not path.exists():
        return []
    runs = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except json.JSONDecodeError as err:
            warnings.warn(f"{path}:{number} is not a complete JSON line (a run cut off by a "
                          f"crash?); skipped it: {err}", UserWarning, stacklevel=2)
            continue
        if not isinstance(run, dict):
            warnings.warn(f"{path}:{number} is JSON but not a run (a {type(run).__name__}, "
                          "not an object); skipped it", UserWarning, stacklevel=2)
            continue
        runs.append(run)
    return runs


def _final_and_best(run: dict, metric: str) -> tuple[float, float]:
    values = []
    for m in run.get("metrics", []):
        try:
            values.append(float(m[metric]))
        except (KeyError, TypeError, ValueError):
            continue
    finite = [v for v in values if np.isfinite(v)]
    return (values[-1] if values else np.nan), (min(finite) if finite else np.nan)


def compare_runs(runs: Any, metric: str = "val_loss") -> list[dict[str, Any]]:
    """Runs ranked by the best (lowest) value of ``metric``: one row per run.

    Parameters
    ----------
    runs : list of dict or path-like
        Runs from :func:`load_runs`, or the log file itself.
    metric : str
        A per-epoch metric; lower is better (use a loss, or pass e.g. ``"val_loss"``).

    Returns
    -------
    list of dict
        ``name``, ``hyperparams``, ``seed``, ``epochs``, ``final`` and ``best`` (NaN when the
        run has no finite value), best first; runs without the metric come last.

    Examples
    --------
    >>> runs = [{"name": "a", "metrics": [{"val_loss": 0.9}, {"val_loss": 0.5}]},
    ...         {"name": "b", "metrics": [{"val_loss": 0.7}, {"val_loss": 0.3}]}]
    >>> [(row["name"], row["best"]) for row in compare_runs(runs)]
    [('b', 0.3), ('a', 0.5)]
    """
    if isinstance(runs, (str, os.PathLike)):
        runs = load_runs(runs)
    bad = [type(r).__name__ for r in runs if not isinstance(r, dict)]
    if bad:
        raise TypeError(f"compare_runs takes runs as dicts (from load_runs), got a {bad[0]}")
    rows = []
    for run in runs:
        final, best = _final_and_best(run, metric)
        rows.append({"name": run.get("name"), "hyperparams": run.get("hyperparams", {}),
                     "seed": run.get("seed"), "epochs": len(run.get("metrics", [])),
                     "final": final, "best": best})
    return sorted(rows, key=lambda r: (not np.isfinite(r["best"]), r["best"]
                                       if np.isfinite(r["best"]) else 0.0))
