"""Build the student versions of the course and grade submissions, with otter-grader.

Each course notebook (``notebooks/0*.ipynb``) and each homework (``assignments/*.ipynb``) is
written once, in otter-grader's assignment format: solutions between ``# BEGIN SOLUTION`` /
``# END SOLUTION`` (or on lines ending ``# SOLUTION``), tests in ``# BEGIN TESTS`` blocks, some
``# HIDDEN``. Run as it is, the source is the notebook with its solutions, and CI executes it.
``otter assign`` makes from it the student version (solutions replaced by ``...``, hidden tests
removed, ``grader.check("q1")`` cells added) and the autograder (a zip with every test); ``otter
run`` grades a submission with that zip on this machine, without Docker.

* ``gradcheck-edu assignments build --out DIR``: ``DIR/student/NAME.ipynb`` to hand out and
  ``DIR/autograder/NAME.zip`` to grade with (and ``DIR/autograder/NAME.ipynb``, the solution);
* ``gradcheck-edu assignments grade SUBMISSION.ipynb [--autograder DIR] [--json]``: points per
  question and the total.

otter-grader is not a runtime dependency: it comes with the ``[course]`` extra (and ``[dev]``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["sources", "build", "grade", "assignment_name", "format_grade"]

ROOT = Path(__file__).resolve().parents[1]
CONFIG_MARK = "# ASSIGNMENT CONFIG"


def _is_source(path: Path) -> bool:
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return False
    return any(c["cell_type"] == "raw" and "".join(c["source"]).lstrip().startswith(CONFIG_MARK)
               for c in cells)


def sources(root: str | Path | None = None) -> list[Path]:
    """The assignment sources under ``root`` (default: the repository this package lives in):
    ``notebooks/*.ipynb`` and ``assignments/*.ipynb`` that carry an otter assignment config."""
    root = Path(root) if root is not None else ROOT
    found = [p for d in ("notebooks", "assignments") for p in sorted((root / d).glob("*.ipynb"))]
    found = [p for p in found if _is_source(p)]
    if not found:
        raise FileNotFoundError(f"no assignment sources in {root}/notebooks or {root}/assignments"
                                " (an installed package has none: pass --sources)")
    return found


def _require_otter() -> None:
    try:
        import otter  # noqa: F401
    except ModuleNotFoundError:
        raise SystemExit("otter-grader is not installed: pip install -e '.[course]'") from None


def build(out: str | Path, paths: list[str | Path] | None = None) -> dict[str, dict[str, Path]]:
    """Run ``otter assign`` on each source; collect the results under ``out``.

    Parameters
    ----------
    out : path
        Gets ``student/NAME.ipynb``, ``autograder/NAME.zip`` and ``autograder/NAME.ipynb``.
    paths : list of paths, optional
        The sources (default: :func:`sources`).

    Returns
    -------
    dict
        NAME -> {"student": path, "autograder": path of the zip, "solution": path}.
    """
    _require_otter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # otter's dependencies' deprecations, at import
        from otter.assign import main as otter_assign

    out = Path(out)
    paths = [Path(p).resolve() for p in (paths or sources())]
    (out / "student").mkdir(parents=True, exist_ok=True)
    (out / "autograder").mkdir(parents=True, exist_ok=True)
    built: dict[str, dict[str, Path]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in paths:
            dest = Path(tmp) / src.stem
            log = io.StringIO()
            try:
                with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
                        warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # otter's dependencies' deprecations
                    otter_assign(str(src), str(dest), no_run_tests=True, no_pdfs=True)
            except Exception as err:
                raise RuntimeError(f"otter assign {src} failed: {err}\n{log.getvalue()}") from err
            zips = sorted((dest / "autograder").glob("*.zip"))
            if len(zips) != 1:
                raise RuntimeError(f"otter assign {src} wrote {len(zips)} autograder zips")
            name = src.stem
            entry = {"student": out / "student" / f"{name}.ipynb",
                     "autograder": out / "autograder" / f"{name}.zip",
                     "solution": out / "autograder" / f"{name}.ipynb"}
            shutil.copyfile(dest / "student" / f"{name}.ipynb", entry["student"])
            shutil.copyfile(zips[0], entry["autograder"])
            shutil.copyfile(dest / "autograder" / f"{name}.ipynb", entry["solution"])
            built[name] = entry
    return dict(sorted(built.items()))


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


def _feedback(test_file: Any) -> str:
    """The failed test cases' messages, without otter's 'Error at line N' and source lines."""
    if test_file.passed_all:
        return "all tests passed"
    parts = []
    for result in test_file.test_case_results:
        if result.passed:
            continue
        lines = [ln for ln in (result.message or "").strip().splitlines()
                 if not ln.startswith(("  ", "Error at line", "\N{CROSS MARK}"))]
        text = "\n".join(lines).strip()
        if text.startswith("AssertionError: "):
            text = text[len("AssertionError: "):]
        parts.append(text or "a test failed")
    return "\n".join(dict.fromkeys(parts))


@contextlib.contextmanager
def _quiet_fds():
    """Send file descriptors 1 and 2 to a temporary file (the kernel otter starts writes to them
    directly); yields the file, whose text is shown if grading fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield log
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def grade(submission: str | Path, autograder: str | Path | None = None) -> dict[str, Any]:
    """Grade one submission with ``otter run`` (no Docker), in this Python environment.

    Parameters
    ----------
    submission : path
        A student notebook (``.ipynb``) built by :func:`build`, answered or not.
    autograder : path, optional
        The ``autograder/`` folder of a build, or the build folder itself, or a zip. Default:
        build this one assignment from its source into a temporary folder first.

    Returns
    -------
    dict
        ``{"total", "max", "questions": {name: {"points", "max", "feedback"}}}``.
    """
    _require_otter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from otter.api import grade_submission

    submission = Path(submission).resolve()
    name = assignment_name(submission)
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = _find_zip(name, autograder, tmp)
        with _quiet_fds() as log, open(os.devnull, "w") as devnull, \
                contextlib.redirect_stdout(devnull), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # otter's dependencies' deprecations
            try:
                results = grade_submission(str(submission), str(zip_path), quiet=True)
            except Exception as err:
                log.seek(0)
                raise RuntimeError(f"otter could not grade {submission}: {err}\n{log.read()}"
                                   ) from err
    questions = {}
    for q, tf in sorted(results.results.items()):
        questions[q] = {"points": float(tf.score), "max": float(tf.possible),
                        "feedback": _feedback(tf)}
    return {"assignment": name, "total": float(sum(q["points"] for q in questions.values())),
            "max": float(sum(q["max"] for q in questions.values())), "questions": questions}


def _find_zip(name: str, autograder: str | Path | None, tmp: str) -> Path:
    if autograder is None:
        matches = [p for p in sources() if p.stem == name]
        if not matches:
            raise FileNotFoundError(f"no source for assignment {name!r}; pass --autograder")
        return build(Path(tmp) / "build", matches)[name]["autograder"]
    autograder = Path(autograder)
    for candidate in (autograder, autograder / f"{name}.zip",
                      autograder / "autograder" / f"{name}.zip"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no autograder for {name!r} in {autograder}: run 'gradcheck-edu "
                            "assignments build --out DIR' and pass --autograder DIR")


def format_grade(result: dict[str, Any]) -> str:
    """Points per question and the total, as text."""
    width = max([len(q) for q in result["questions"]] + [5])
    lines = [f"{result['assignment']}: {result['total']:g} / {result['max']:g} points"]
    for q, r in result["questions"].items():
        lines.append(f"  {q:<{width}}  {r['points']:g} / {r['max']:g}")
        if r["points"] < r["max"]:
            lines += [f"  {'':<{width}}    {ln}" for ln in r["feedback"].splitlines()]
    return "\n".join(lines)
