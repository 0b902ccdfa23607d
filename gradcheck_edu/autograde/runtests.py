"""Run an assignment's tests on one submission, in the grading process, against its sandbox.

An autograder zip (built by :func:`gradcheck_edu.assignments.build`) holds otter's test files
(``tests/NAME.py``: functions decorated ``@test_case(points=..., hidden=...)`` whose parameters
are names the notebook defines), ``reference.py`` (the solutions, trusted) and ``secret`` (the
course secret). :class:`Autograder` loads them here, in the grading process; the submission's
code runs only in its sandbox (:mod:`gradcheck_edu.sandbox`), and each test case is called with
its parameters bound by name:

* ``grading_seed``: the seed of this student's inputs for this question,
  ``HMAC-SHA256(secret, "student id/question")`` (:func:`seed_for`);
* ``ref_NAME``: ``NAME`` of the reference solutions;
* any other name: the submission's ``NAME``, as data or a remote handle (``Sandbox.get``).

A case passes when it returns; an ``AssertionError`` is its feedback; a sandbox failure (a
hang, a crash, a missing name) its message; any other exception "your code raised X: message".
Never a test's source or traceback.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import inspect
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..feedback import unanswered
from .layers import NOT_ANSWERED, RowFailed

__all__ = ["Case", "Question", "Autograder", "seed_for", "run_question", "TestBinder",
           "assignment_name", "unanswered_names"]


@dataclass
class Case:
    """One test case: a row of its question."""

    name: str
    row: str
    func: Callable[..., None]
    points: float
    hidden: bool


@dataclass
class Question:
    name: str
    cases: list[Case]

    @property
    def max_points(self) -> float:
        return float(sum(c.points for c in self.cases))


class _TestCase:
    """The ``test_case`` decorator the test files import from otter, without otter."""

    def __init__(self, name: str | None = None, points: float | None = None,
                 hidden: bool = False, success_message: str | None = None,
                 failure_message: str | None = None):
        self.name, self.points, self.hidden, self.func = name, points, hidden, None

    def __call__(self, func: Callable) -> _TestCase:
        self.func = func
        return self


def _resolve_points(total: Any, cases: list[_TestCase]) -> list[float]:
    """otter's rule: a list gives each case its points; a total is shared by the cases that set
    none; without either, each case is worth 1."""
    if isinstance(total, list):
        if len(total) != len(cases):
            raise ValueError(f"points lists {len(total)} values for {len(cases)} test cases")
        return [float(p) for p in total]
    given = [c.points for c in cases]
    if total is None:
        return [1.0 if p is None else float(p) for p in given]
    unset = sum(p is None for p in given)
    rest = float(total) - sum(p for p in given if p is not None)
    return [rest / unset if p is None else float(p) for p in given]


def load_test_file(source: str, path: str) -> Question:
    """A :class:`Question` from the text of one of otter's exception-based test files."""
    source = source.replace("from otter.test_files import test_case", "")
    env: dict[str, Any] = {"test_case": _TestCase}
    exec(compile(source, path, "exec"), env)  # the autograder's own file: trusted
    name = env["name"]
    found = [v for v in env.values() if isinstance(v, _TestCase)]
    points = _resolve_points(env.get("points"), found)
    cases = []
    for tc, pts in zip(found, points):
        fname = tc.func.__name__
        row = fname.removeprefix("test_").removeprefix(f"{name}_")
        cases.append(Case(fname, row, tc.func, pts, bool(tc.hidden)))
    return Question(name, cases)


class Autograder:
    """What an autograder zip (or the folder it was unpacked into) holds, loaded here.

    Attributes
    ----------
    name : str
        The assignment.
    questions : list of Question
    secret : bytes
        The course secret (empty for a zip built before there was one: then every student
        gets the same inputs, and :attr:`notes` says so).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        files = _read_files(self.path)
        tests = sorted(n for n in files if n.startswith("tests/") and n.endswith(".py"))
        self.questions = [load_test_file(files[n].decode(), f"<{n}>") for n in tests]
        self._reference = files["reference.py"].decode() if "reference.py" in files else None
        self.secret = files.get("secret", b"").strip()
        try:
            self.name = json.loads(files["otter_config.json"])["assignment_name"]
        except (KeyError, ValueError):
            self.name = self.path.stem
        self.notes = [] if self.secret else ["no course secret: every student's inputs alike"]
        self._ref_ns: dict[str, Any] | None = None

    def reference(self, name: str) -> Any:
        """``name`` as the reference solutions define it."""
        if self._ref_ns is None:
            if self._reference is None:
                raise RuntimeError(f"the autograder {self.path} has no reference.py: rebuild "
                                   "it with 'gradcheck-edu assignments build'")
            ns: dict[str, Any] = {"__name__": f"reference_{self.name}"}
            exec(compile(self._reference, "<reference>", "exec"), ns)
            self._ref_ns = ns
        if name not in self._ref_ns:
            raise RuntimeError(f"a test asks for ref_{name}, but the reference defines no {name}")
        return self._ref_ns[name]


def assignment_name(notebook: str | Path) -> str:
    """The otter assignment name a notebook carries in its metadata (the source's file stem)."""
    try:
        meta = json.loads(Path(notebook).read_text()).get("metadata", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise ValueError(f"{notebook} is not a notebook (not a JSON object: {err})") from None
    name = meta.get("otter", {}).get("assignment_name")
    if not name:
        raise ValueError(f"{notebook} is not a student version built by 'gradcheck-edu "
                         "assignments build' (no otter assignment name in its metadata)")
    return name


def unanswered_names(notebook: str | Path, max_bytes: int = 2**22) -> set[str]:
    """The top-level names a notebook leaves as the student version gave them: a function
    whose body is only ``...`` (and a docstring), a name assigned ``...``. Read with ``ast``,
    never run; an unreadable cell contributes nothing."""
    found: set[str] = set()
    try:
        path = Path(notebook)
        if path.stat().st_size > max_bytes:
            return found
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return found
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(
                    b.value, ast.Constant) and isinstance(b.value.value, str))]
                ellipsis = all(isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
                               and b.value.value is Ellipsis for b in body)
                (found.add if ellipsis else found.discard)(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        (found.discard if not (isinstance(node.value, ast.Constant) and
                                               node.value.value is Ellipsis) else found.add)(
                            target.id)
    return found


def _read_files(path: Path) -> dict[str, bytes]:
    """The test files, reference, secret and config of an autograder zip or unpacked folder."""
    wanted = ("tests/", "reference.py", "secret", "otter_config.json")
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
                if p.is_file() and p.relative_to(path).as_posix().startswith(wanted)}
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n.startswith(wanted)}


def seed_for(secret: bytes, student_id: str, question: str) -> int:
    """A 63-bit seed no one without the secret can compute: HMAC-SHA256 of "id/question".

    >>> seed_for(b"s", "ada", "q1") == seed_for(b"s", "ada", "q1") != seed_for(b"s", "bob", "q1")
    True
    """
    digest = hmac.new(secret, f"{student_id}/{question}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class TestBinder:
    """Binds test parameters: the seed, the reference, the submission's names.

    ``get(name)`` reads a name from the submission (a ``Sandbox.get``); ``errors`` is the
    tuple of exception types that mean the submission failed (the sandbox's
    ``StudentCodeError``), and ``kind_of(err)`` the row kind such an error gets.
    """

    def __init__(self, autograder: Autograder, student_id: str, get: Callable[[str], Any],
                 errors: tuple[type[BaseException], ...], kind_of: Callable[[Any], str],
                 unanswered: set[str] = frozenset()):
        self.autograder, self.student_id, self.unanswered = autograder, student_id, unanswered
        self._get, self.errors, self.kind_of = get, errors, kind_of
        self._cache: dict[str, Any] = {}

    def student(self, name: str) -> Any:
        if name not in self._cache:
            try:
                self._cache[name] = ("ok", self._get(name))
            except self.errors as err:
                self._cache[name] = ("error", err)
        status, value = self._cache[name]
        if status == "error":
            raise value
        return value

    def arguments(self, func: Callable, question: str) -> tuple[dict[str, Any], bool]:
        """The keyword arguments of ``func``, and whether a student answer is missing."""
        kwargs, missing = {}, False
        for p in inspect.signature(func).parameters:
            if p == "grading_seed":
                kwargs[p] = seed_for(self.autograder.secret, self.student_id, question)
            elif p.startswith("ref_"):
                kwargs[p] = self.autograder.reference(p[4:])
            else:
                kwargs[p] = self.student(p)
                missing = missing or p in self.unanswered or (
                    unanswered(kwargs[p]) and not callable(kwargs[p]))
        return kwargs, missing


def _run_case(case: Case, question: str, binder: TestBinder, quiet: Callable) -> dict[str, Any]:
    verdict, kind, missing = None, None, False
    try:
        kwargs, missing = binder.arguments(case.func, question)
        with quiet():
            case.func(**kwargs)
        return {"passed": True, "message": "", "verdict": "PASSED", "kind": None}
    except RowFailed as err:
        message, verdict, kind = str(err), err.verdict, err.kind
    except AssertionError as err:
        message = str(err) or "a test failed"
        kind = NOT_ANSWERED if missing else "unknown"
        verdict = "WRONG"
    except binder.errors as err:  # the submission hung, crashed, or lacks the name
        message, kind = str(err), binder.kind_of(err)
    except RecursionError:
        message, kind = "your code recursed too deeply", "raised"
    except Exception as err:  # noqa: BLE001 (whatever the submission's values made fail)
        message, kind = f"your code raised {type(err).__name__}: {err}", "raised"
    return {"passed": False, "message": message, "verdict": verdict, "kind": kind}


def run_question(question: Question, binder: TestBinder, quiet: Callable) -> dict[str, Any]:
    """``{"points", "max", "feedback", "rows": {row: {points, max, verdict, kind, feedback}}}``
    (a passed row's feedback is empty)."""
    rows, messages, points = {}, [], 0.0
    for case in question.cases:
        r = _run_case(case, question.name, binder, quiet)
        earned = case.points if r["passed"] else 0.0
        points += earned
        rows[case.row] = {"points": earned, "max": case.points, "verdict": r["verdict"],
                          "kind": r["kind"], "feedback": r["message"]}
        if not r["passed"]:
            messages.append(r["message"])
    feedback = "\n".join(dict.fromkeys(messages)) if messages else "all tests passed"
    return {"points": points, "max": question.max_points, "feedback": feedback, "rows": rows}

