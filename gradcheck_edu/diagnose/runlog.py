"""Experiment tracking with no server: one JSON line per run, written atomically."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RunLog", "load_runs"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no NaN/Inf
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"python": platform.python_version(), "numpy": np.__version__,
            "gradcheck_edu": __version__}


class RunLog:
    """Record one training run: hyperparameters, seed, per-epoch metrics, versions, git commit.

    The run is appended to a JSON-lines file (one run per line) by :meth:`save`; the file is
    rewritten through a temporary file and an atomic rename, so a crash leaves it readable.

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
                 seed: Any = None, name: str | None = None, notes: str = ""):
        self.path = Path(path)
        self.record: dict[str, Any] = {
            "name": name,
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "hyperparams": dict(hyperparams or {}),
            "seed": seed,
            "versions": _versions(),
            "git_commit": _git_commit(self.path.resolve().parent),
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
        """Append this run to the file, atomically."""
        line = json.dumps(_jsonable(self.record), allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = self.path.read_text() if self.path.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(old + line)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def load_runs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run in a JSON-lines log, oldest first (an unreadable line raises ValueError)."""
    path = Path(path)
    if not path.exists():
        return []
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number} is not a JSON line: {err}") from None
    return runs
