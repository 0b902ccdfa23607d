"""Build the student versions of the course and grade submissions, with otter-grader.

Each course notebook (``notebooks/0*.ipynb``) and each homework (``assignments/*.ipynb``) is
written once, in otter-grader's assignment format: solutions between ``# BEGIN SOLUTION`` /
``# END SOLUTION`` (or on lines ending ``# SOLUTION``), tests in ``# BEGIN TESTS`` blocks, some
``# HIDDEN``. Run as it is, the source is the notebook with its solutions, and CI executes it.
``otter assign`` makes from it the student version (solutions replaced by ``...``, hidden tests
removed, ``grader.check("q1")`` cells added) and the autograder (a zip with every test). To the
zip, :func:`build` adds ``reference.py`` (the solutions), ``secret`` (the course secret the
students' inputs are drawn from) and what Gradescope needs; it checks the reference layers
against finite differences once. Grading never uses ``otter run``: :func:`grade` runs the
submission in a sandbox and the tests in this process (:mod:`gradcheck_edu.autograde`).

* ``gradcheck-edu assignments build --out DIR``: ``DIR/student/NAME.ipynb`` to hand out and
  ``DIR/autograder/NAME.zip`` to grade with (and ``DIR/autograder/NAME.ipynb``, the solution);
* ``gradcheck-edu assignments grade SUBMISSION.ipynb [--autograder DIR] [--json]``: points per
  question and row, and the total.

otter-grader is not a runtime dependency: it comes with the ``[course]`` extra (and ``[dev]``).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import secrets
import shutil
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from .autograde.runtests import assignment_name

__all__ = ["sources", "build", "grade", "assignment_name", "format_grade", "reference_source",
           "find_autograder", "notebook_path"]

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
            shutil.copyfile(dest / "autograder" / f"{name}.ipynb", entry["solution"])
            _finish_zip(zips[0], entry["autograder"], src, _course_secret(out / "autograder"))
            check_references(entry["autograder"])
            _student_version(dest / "student" / f"{name}.ipynb", entry["student"], name,
                             entry["autograder"])
            built[name] = entry
    return dict(sorted(built.items()))


def notebook_path(name: str, folder: str | Path = ".") -> str:
    """The student's copy of assignment ``name`` in ``folder``, under any file name:
    ``NAME.ipynb`` if it is there, else the one notebook whose metadata names the assignment
    (a submission renamed ``alice.ipynb`` keeps its ``grader.check`` cells working)."""
    folder = Path(folder)
    if (folder / f"{name}.ipynb").is_file():
        return f"{name}.ipynb"
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            if assignment_name(path) == name:
                found.append(path.name)
        except (ValueError, OSError):
            continue
    if len(found) != 1:
        raise FileNotFoundError(f"{'no' if not found else 'more than one'} notebook of the "
                                f"assignment {name!r} in {folder.resolve()}: keep exactly one "
                                "copy of it in its folder")
    return found[0]


_INIT = 'grader = otter.Notebook("{name}.ipynb")'


def _student_version(student: Path, dest: Path, name: str, zip_path: Path) -> None:
    """Copy otter's student version: its init cell finds the notebook under any file name, and
    each public test carries the points the autograder gives it (otter cuts the question's
    list of points to the first public tests, whichever they are)."""
    from .autograde.runtests import Autograder

    points = {c.name: c.points for q in Autograder(zip_path).questions for c in q.cases}
    nb = json.loads(student.read_text())
    init = _INIT.format(name=name)
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and init in text:
            text = text.replace(init, "from gradcheck_edu.assignments import notebook_path\n"
                                f'grader = otter.Notebook(notebook_path("{name}"))')
            cell["source"] = text.splitlines(keepends=True)
    tests = nb.get("metadata", {}).get("otter", {}).get("tests", {})
    for q, text in tests.items():
        cases = re.findall(r"^def (test_\w+)\(", text, flags=re.M)
        shown = [points[c] for c in cases]
        tests[q] = re.sub(r"^points = .*$", f"points = {[p if p % 1 else int(p) for p in shown]}",
                          text, count=1, flags=re.M)
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _course_secret(folder: Path) -> bytes:
    """The course secret of a build folder: made once (random), kept for later builds."""
    path = folder / "secret"
    if not path.is_file():
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip().encode()


def reference_source(source: str | Path) -> str:
    """The solutions of an assignment source as a Python module: the imports outside its
    questions and its answer cells, with the solution markers dropped."""
    out, region = [], None
    for cell in json.loads(Path(source).read_text())["cells"]:
        text = "".join(cell["source"])
        head = text.strip()
        if cell["cell_type"] == "raw":
            for mark in ("SOLUTION", "TESTS", "QUESTION"):
                if head.startswith(f"# BEGIN {mark}"):
                    region = mark
                elif head.startswith(f"# END {mark}"):
                    region = None
            continue
        if cell["cell_type"] != "code":
            continue
        if region == "SOLUTION":
            kept = [re.sub(r"\s*# SOLUTION$", "", ln) for ln in text.splitlines()
                    if not re.match(r"\s*# (BEGIN|END) SOLUTION", ln)]
            out.append("\n".join(kept))
        elif region is None:  # the imports the solutions rely on, and nothing else
            out += [ln for ln in text.splitlines() if ln.startswith(("import ", "from "))
                    and not ln.startswith(("import otter", "from otter"))]
    return "\n\n".join(out) + "\n"


def _finish_zip(otter_zip: Path, dest: Path, source: Path, secret: bytes) -> None:
    """otter's zip, with the reference, the secret and the Gradescope files of this grader
    instead of otter's (which would grade with otter run)."""
    from .autograde.gradescope import gradescope_files

    replaced = {"run_autograder", "setup.sh", "environment.yml", "run_otter.py",
                "requirements.txt", "requirements.r"}
    with zipfile.ZipFile(otter_zip) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED
                                                            ) as zout:
        for item in zin.infolist():
            if item.filename not in replaced:
                zout.writestr(item, zin.read(item.filename))
        zout.writestr("reference.py", reference_source(source))
        zout.writestr("secret", secret + b"\n")
        for name, (data, mode) in gradescope_files().items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            zout.writestr(info, data)


def check_references(zip_path: str | Path) -> None:
    """Run each test that asks for a reference (a ``ref_`` parameter) on the reference itself:
    a reference layer is then checked against central differences. Raises ``RuntimeError``
    naming the test that fails."""
    from .autograde.grade import silenced
    from .autograde.runtests import Autograder

    grader = Autograder(zip_path)
    with silenced():
        for q in grader.questions:
            for case in q.cases:
                params = list(inspect.signature(case.func).parameters)
                if not any(p.startswith("ref_") for p in params):
                    continue
                kwargs = {p: (0 if p == "grading_seed" else
                              grader.reference(p.removeprefix("ref_"))) for p in params}
                try:
                    case.func(**kwargs)
                except Exception as err:
                    raise RuntimeError(f"{grader.name}: the reference fails {case.name}: "
                                       f"{err}") from err


def grade(submission: str | Path, autograder: str | Path | None = None, *,
          options: Any = None, student_id: str | None = None) -> dict[str, Any]:
    """Grade one submission: its code in a sandbox, the tests in this process.

    Parameters
    ----------
    submission : path
        A student notebook (``.ipynb``) built by :func:`build`, answered or not, under any
        file name (its stem is the student id unless ``student_id`` is given).
    autograder : path, optional
        The ``autograder/`` folder of a build, or the build folder itself, or a zip. Default:
        build this one assignment from its source into a temporary folder first.
    options : GradeOptions, optional
        Limits and isolation (:class:`gradcheck_edu.autograde.grade.GradeOptions`).

    Returns
    -------
    dict
        ``{"assignment", "total", "max", "questions": {name: {"points", "max", "feedback",
        "rows"}}, "protections"}``.
    """
    from .autograde.grade import grade_submission, silenced
    from .autograde.runtests import Autograder

    submission = Path(submission).resolve()
    name = assignment_name(submission)
    with tempfile.TemporaryDirectory() as tmp:
        zip_path = find_autograder(name, autograder, tmp)
        with silenced():
            return grade_submission(submission, Autograder(zip_path), options, student_id)


def find_autograder(name: str, autograder: str | Path | None, tmp: str) -> Path:
    """The zip of assignment ``name`` in ``autograder`` (a build folder, its ``autograder/``
    folder, or the zip); None: build it from its source into ``tmp``."""
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


def command(args) -> int:
    """``gradcheck-edu assignments build | grade | report``, its arguments parsed by
    :func:`gradcheck_edu.cli.main`; returns the exit status."""
    if args.action == "report":
        from .class_report import write_report

        try:
            paths = write_report(args.grades, args.out, args.assignment)
        except (ValueError, OSError) as err:
            print(f"gradcheck-edu assignments report: {err}", file=sys.stderr)
            return 2
        print(f"wrote {paths['index'].resolve()} and {paths['summary'].name}")
        return 0
    if args.action == "build":
        built = build(args.out, args.sources)
        print(f"built {len(built)} assignments in {Path(args.out).resolve()}:")
        for name, paths in built.items():
            print(f"  {name}: hand out {paths['student']}, grade with {paths['autograder']}")
        return 0
    from .autograde.grade import GradeOptions, grade_many, gradebook_csv, silenced
    from .autograde.runtests import Autograder

    try:
        options = GradeOptions(args.cell_timeout, args.call_timeout, args.timeout,
                               args.memory_mb, args.unsafe_no_sandbox)
    except ValueError as err:
        raise SystemExit(f"gradcheck-edu assignments grade: {err}") from None
    if not args.unsafe_no_sandbox:
        from .sandbox import bwrap_status

        ok, why = bwrap_status()
        if not ok:
            raise SystemExit(f"gradcheck-edu assignments grade: student code cannot be "
                             f"sandboxed here: {why}. To grade without the sandbox anyway (every "
                             "result then names what is off): --unsafe-no-sandbox")
    subs = [p for s in map(Path, args.submissions)
            for p in (sorted(s.glob("*.ipynb")) if s.is_dir() else [s])]
    names = {}
    for path in subs:  # a file that is not a student version is reported, not fatal
        try:
            names[path] = assignment_name(path)
        except (ValueError, OSError) as err:
            names[path] = err
    graders: dict[str, Autograder] = {}
    with tempfile.TemporaryDirectory() as tmp:
        where = args.autograder
        wanted = {n for n in names.values() if isinstance(n, str)}
        if where is None and wanted:
            where = Path(tmp)
            build(where, [p for p in sources() if p.stem in wanted])
        for name in sorted(wanted):
            try:
                graders[name] = Autograder(find_autograder(name, where, tmp))
            except (FileNotFoundError, ValueError) as err:
                graders[name] = err

        def find(path: Path):
            name = names[path]
            if not isinstance(name, str):
                raise name
            if not isinstance(graders[name], Autograder):
                raise graders[name]
            return graders[name], path.stem

        def show(path: Path, result: dict) -> None:
            if args.json:
                print(json.dumps({"submission": str(path), **result}), file=out, flush=True)
            else:
                print(f"{path}:" if len(subs) > 1 else "", end="\n" if len(subs) > 1 else "",
                      file=out)
                print(result["error"] if "error" in result else format_grade(result),
                      file=out, flush=True)

        with silenced() as out:
            results = grade_many(subs, find, options, args.jobs, show, args.student_id)
    if args.csv:
        gradebook_csv(results, args.csv)
    failed = sum("error" in r for r in results.values())
    return 1 if failed else 0
