"""Grade submissions: each in its own sandbox, the tests in this process, several at a time.

:func:`grade_submission` grades one notebook: a :class:`~gradcheck_edu.sandbox.Sandbox` runs its
cells (a fresh folder holding only that notebook, no network, read-only Python, time and memory
limits), then :func:`~gradcheck_edu.autograde.runtests.run_question` calls each test case here,
with the submission's names as remote handles. :func:`grade_many` grades a class in parallel
(``jobs`` threads, each submission its own sandbox) and hands each result over as it finishes;
:func:`gradebook_csv` writes the gradebook.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from .layers import NOT_ANSWERED
from .runtests import Autograder, TestBinder, run_question, unanswered_names

__all__ = ["GradeOptions", "grade_submission", "grade_many", "gradebook_csv", "silenced",
           "student_id_of"]


class GradeOptions:
    """The limits and the isolation of a grading run.

    Parameters
    ----------
    cell_seconds, call_seconds, submission_seconds : float
        Wall-clock limits: per notebook cell, per call of a student function, per submission.
    memory_mb : int
        The sandbox's address-space limit.
    unsafe_no_sandbox : bool
        Run student code without bubblewrap (every result then lists the protections that
        were off). Without it, grading refuses where bubblewrap does not work.
    """

    def __init__(self, cell_seconds: float = 30.0, call_seconds: float = 10.0,
                 submission_seconds: float = 90.0, memory_mb: int = 2048,
                 unsafe_no_sandbox: bool = False):
        for what, v in (("cell_seconds", cell_seconds), ("call_seconds", call_seconds),
                        ("submission_seconds", submission_seconds), ("memory_mb", memory_mb)):
            if not v > 0:
                raise ValueError(f"{what} must be positive, got {v!r}")
        self.cell_seconds, self.call_seconds = float(cell_seconds), float(call_seconds)
        self.submission_seconds, self.memory_mb = float(submission_seconds), int(memory_mb)
        self.unsafe_no_sandbox = bool(unsafe_no_sandbox)

    def sandbox_arguments(self) -> dict[str, Any]:
        from ..sandbox import Isolation, Limits

        limits = Limits(cell_seconds=self.cell_seconds, call_seconds=self.call_seconds,
                        submission_seconds=self.submission_seconds, memory_mb=self.memory_mb)
        isolation = Isolation.NONE if self.unsafe_no_sandbox else Isolation.BWRAP
        return {"limits": limits, "isolation": isolation}


def _kind_of(err: Any) -> str:
    from ..sandbox import CellStatus

    status = getattr(err, "status", None)
    if status is CellStatus.TIMEOUT:
        return "timeout"
    if str(err).endswith("is not defined in the notebook"):  # the engine's one fixed sentence
        return NOT_ANSWERED
    return "raised"


def student_id_of(path: str | Path) -> str:
    """The student id of a submission file: its stem (``alice.ipynb`` -> ``alice``)."""
    return Path(path).stem


def grade_submission(path: str | Path, autograder: Autograder, options: GradeOptions | None = None,
                     student_id: str | None = None) -> dict[str, Any]:
    """Grade one notebook.

    Returns
    -------
    dict
        ``{"assignment", "total", "max", "questions": {name: {"points", "max", "feedback",
        "rows"}}, "protections"}``: ``rows`` maps each test case's row to ``{"points", "max",
        "verdict", "kind"}``.
    """
    from ..sandbox import Sandbox, StudentCodeError

    options = options or GradeOptions()
    student_id = student_id if student_id is not None else student_id_of(path)
    questions = {}
    with Sandbox(str(path), **options.sandbox_arguments()) as sb:
        sb.run_cells()
        binder = TestBinder(autograder, student_id, sb.get, (StudentCodeError,), _kind_of,
                            unanswered_names(path))
        for q in autograder.questions:
            questions[q.name] = run_question(q, binder, contextlib.nullcontext)
        protections = list(sb.protections)
    total = float(sum(q["points"] for q in questions.values()))
    return {"assignment": autograder.name, "total": total,
            "max": float(sum(q["max"] for q in questions.values())),
            "questions": dict(sorted(questions.items())),
            "protections": protections + autograder.notes}


class _Discard:
    """A text stream that keeps nothing (what graded code prints goes nowhere)."""

    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def silenced() -> Iterator[Any]:
    """While grading: ``sys.stdout``/``sys.stderr`` and file descriptor 2 discard what is
    written, warnings are ignored. Yields the real stdout, for the results."""
    real = sys.stdout
    real.flush()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(log.fileno(), 2)
        sys.stdout, sys.stderr = _Discard(), _Discard()
        try:
            yield real
        finally:
            sys.stdout, sys.stderr = real, sys.__stderr__
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def grade_many(paths: list[Path], find: Callable[[Path], tuple[Autograder, str]],
               options: GradeOptions | None = None, jobs: int | None = None,
               on_result: Callable[[Path, dict[str, Any]], None] | None = None,
               student_id: str | None = None) -> dict[Path, dict[str, Any]]:
    """Grade ``paths`` with ``jobs`` submissions at a time (default: the number of cores).

    ``find(path) -> (autograder, student_id)`` raises ``ValueError``/``OSError`` for a file that
    is not a submission: its result is ``{"error": ...}`` and the others are graded.
    ``on_result(path, result)`` is called as each one finishes (in the calling thread's order of
    completion, one at a time).
    """
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    lock = threading.Lock()
    results: dict[Path, dict[str, Any]] = {}

    def one(path: Path) -> dict[str, Any]:
        try:
            autograder, sid = find(path)
        except (ValueError, OSError) as err:
            return {"error": f"not graded: {err}".splitlines()[0]}
        try:
            return grade_submission(path, autograder, options, student_id or sid)
        except Exception as err:  # noqa: BLE001 (one submission's failure is not the class's)
            return {"error": f"not graded: {type(err).__name__}: {err}".splitlines()[0]}

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, p): p for p in paths}
        for future in as_completed(futures):
            path = futures[future]
            result = future.result()
            with lock:
                results[path] = result
                if on_result is not None:
                    on_result(path, result)
    return {p: results[p] for p in paths}


def gradebook_csv(results: dict[Path, dict[str, Any]], out: str | Path) -> Path:
    """One row per submission: the file, the student id, the total, the max, each question's
    points, and the error of a file that could not be graded."""
    questions = sorted({q for r in results.values() for q in r.get("questions", {})})
    out = Path(out)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["submission", "student_id", "assignment", "total", "max", *questions,
                    "error"])
        for path, r in results.items():
            qs = r.get("questions", {})
            w.writerow([str(path), student_id_of(path), r.get("assignment", ""),
                        r.get("total", ""), r.get("max", ""),
                        *[qs[q]["points"] if q in qs else "" for q in questions],
                        r.get("error", "")])
    return out
