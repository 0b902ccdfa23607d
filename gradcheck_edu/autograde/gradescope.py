"""Grade on Gradescope: the files of the autograder zip, and its ``run_autograder``.

Gradescope unpacks the autograder zip into ``/autograder/source``, runs ``setup.sh`` once when
the image is built, then for each submission (in its own container) ``run_autograder``, with
the student's files in ``/autograder/submission`` and ``submission_metadata.json`` beside them,
and reads ``/autograder/results/results.json``. The zip carries this package as a wheel (built
here, from the installed package: it is on no package index); ``setup.sh`` installs it and
bubblewrap; ``run_autograder`` runs :func:`main`, the same isolated grader as on a laptop:
student code in bubblewrap when it works in the container, else in the container alone, and the
results then name the protections that were off. The root (``/autograder``) can be moved with
the environment variable ``GRADESCOPE_ROOT`` (and the Python with ``GRADECHECK_PYTHON``), which
is how the tests run it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["gradescope_files", "build_wheel", "results_json", "main"]

_SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the image: install this package from the zip.
set -e
ROOT="${GRADESCOPE_ROOT:-/autograder}"
PY="${GRADECHECK_PYTHON:-python3}"
if ! command -v bwrap > /dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -qq && apt-get install -y -qq bubblewrap python3-pip > /dev/null || true
fi
"$PY" -m pip install -q "$ROOT"/source/gradcheck_edu-*.whl
"""

_RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: the isolated grader writes results/results.json.
ROOT="${GRADESCOPE_ROOT:-/autograder}"
PY="${GRADECHECK_PYTHON:-python3}"
cd "$ROOT/source" && exec "$PY" -m gradcheck_edu.autograde.gradescope --root "$ROOT"
"""


def build_wheel() -> tuple[str, bytes]:
    """A wheel of this package as installed here: (file name, bytes). Pure Python, so a zip
    of the package folder and its metadata (PEP 427) is the whole build."""
    from .. import __version__

    pkg = Path(__file__).resolve().parents[1]
    name = f"gradcheck_edu-{__version__}"
    files: dict[str, bytes] = {}
    for path in sorted(pkg.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"gradcheck_edu/{path.relative_to(pkg).as_posix()}"] = path.read_bytes()
    info = f"{name}.dist-info"
    files[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: gradcheck_edu\nVersion: "
                                 f"{__version__}\nRequires-Python: >=3.10\nRequires-Dist: "
                                 "numpy>=1.24\nRequires-Dist: matplotlib>=3.7\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: gradcheck_edu\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = (b"[console_scripts]\n"
                                         b"gradcheck-edu = gradcheck_edu.cli:main\n")
    record = []
    for fname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{fname},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for fname, data in files.items():
            z.writestr(fname, data)
    return f"{name}-py3-none-any.whl", buf.getvalue()


_WHEEL: list[tuple[str, bytes]] = []


def gradescope_files() -> dict[str, tuple[bytes, int]]:
    """name -> (bytes, file mode) of what the zip needs for Gradescope."""
    if not _WHEEL:
        _WHEEL.append(build_wheel())
    wheel_name, wheel = _WHEEL[0]
    return {"setup.sh": (_SETUP.encode(), 0o755), "run_autograder": (_RUN.encode(), 0o755),
            wheel_name: (wheel, 0o644)}


def results_json(result: dict[str, Any]) -> dict[str, Any]:
    """A grade in Gradescope's format: one test per question (name, score, max_score,
    output, visibility), the total, and the protections in the top-level output."""
    if "error" in result:
        return {"score": 0.0, "output": result["error"], "tests": []}
    tests = [{"name": q, "score": r["points"], "max_score": r["max"],
              "output": r["feedback"], "visibility": "visible"}
             for q, r in result["questions"].items()]
    output = "Protections: " + "; ".join(result.get("protections", []))
    return {"score": result["total"], "output": output, "tests": tests,
            "output_format": "text"}


def _student_id(root: Path, fallback: str) -> str:
    try:
        meta = json.loads((root / "submission_metadata.json").read_text())
    except (OSError, ValueError):
        return fallback
    users = meta.get("users") or []
    if users and isinstance(users[0], dict) and users[0].get("id") is not None:
        return str(users[0]["id"])
    return str(meta.get("id", fallback))


def _remove_secrets(source: Path) -> None:
    """Delete the tests, the reference and the secret from the container's disk once they are
    loaded (the container grades one submission and is thrown away): where bubblewrap cannot
    run, student code shares the container's file system."""
    import shutil

    for name in ("reference.py", "secret"):
        (source / name).unlink(missing_ok=True)
    shutil.rmtree(source / "tests", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Grade the submission under ``ROOT/submission`` with the autograder in ``ROOT/source``
    (whose tests, reference and secret are deleted from disk once loaded); write
    ``ROOT/results/results.json``."""
    from ..sandbox import SandboxUnavailable
    from .grade import GradeOptions, grade_submission, silenced
    from .runtests import Autograder, assignment_name

    p = argparse.ArgumentParser(prog="run_autograder")
    p.add_argument("--root", default=os.environ.get("GRADESCOPE_ROOT", "/autograder"))
    args = p.parse_args(argv)
    root = Path(args.root)
    source = root / "source"
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    grader = Autograder(source)
    _remove_secrets(source)
    notebooks = sorted((root / "submission").glob("*.ipynb"))
    result: dict[str, Any] = {"error": "no notebook (.ipynb) in the submission"}
    for path in notebooks:
        try:
            if assignment_name(path) != grader.name:
                continue
        except ValueError:
            continue
        student = _student_id(root, path.stem)
        with silenced():
            try:
                result = grade_submission(path, grader, GradeOptions(), student)
            except SandboxUnavailable as err:  # bubblewrap does not work in this container
                result = grade_submission(path, grader, GradeOptions(unsafe_no_sandbox=True),
                                          student)
                result["protections"].append(f"bubblewrap unusable here ({err}); the "
                                             "Gradescope container isolates the submission")
        break
    else:
        if notebooks:
            result = {"error": f"no notebook of the assignment {grader.name} in the submission"}
    out.write_text(json.dumps(results_json(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
