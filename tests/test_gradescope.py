"""The autograder zip on Gradescope, simulated: unpacked into a root laid out as Gradescope's
(``source/``, ``submission/``, ``results/``), installed from the zip's own files into a fresh
virtual environment by its ``setup.sh``, run by its ``run_autograder`` on a correct and on a
wrong submission; ``results/results.json`` read in Gradescope's format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from otter_sources import SOURCES, as_answer, fill, solution_cells

from gradcheck_edu import assignments

pytestmark = pytest.mark.course  # builds the course with otter-grader ([course])

HW = next(p for p in SOURCES if p.stem == "hw_layers")


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """root, environment: the zip unpacked and set up in a fresh venv (setup.sh)."""
    out = tmp_path_factory.mktemp("course")
    built = assignments.build(out, [HW])["hw_layers"]
    root = tmp_path_factory.mktemp("autograder")
    with zipfile.ZipFile(built["autograder"]) as z:
        z.extractall(root / "source")
        names = z.namelist()
    assert any(n.endswith(".whl") for n in names) and "reference.py" in names
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    venv = root / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)],
                   check=True)
    env = {**os.environ, "GRADESCOPE_ROOT": str(root),
           "GRADECHECK_PYTHON": str(venv / "bin" / "python")}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, env, built


def _run(root: Path, env: dict, notebook: Path, name: str, zip_path: Path) -> dict:
    """One submission in a fresh container: the zip unpacked again (run_autograder deletes
    the tests, the reference and the secret once it has loaded them)."""
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(root / "source")
    sub = root / "submission"
    sub.mkdir(exist_ok=True)
    for old in sub.glob("*"):
        old.unlink()
    (sub / name).write_bytes(notebook.read_bytes())
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 123, "users": [{"id": 4567, "email": "ada@example.edu", "name": "Ada"}]}))
    results = root / "results" / "results.json"
    results.unlink(missing_ok=True)
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    left = {p.name for p in (root / "source").iterdir()}
    assert not left & {"tests", "reference.py", "secret"}, left
    return json.loads(results.read_text())


def test_the_installed_package_comes_from_the_zip(gradescope):
    root, env, _ = gradescope
    where = subprocess.run([env["GRADECHECK_PYTHON"], "-c",
                            "import gradcheck_edu; print(gradcheck_edu.__file__)"],
                           capture_output=True, text=True, env=env, cwd="/").stdout
    assert where.startswith(str(root / "venv")), where


def test_a_correct_and_a_wrong_submission_on_gradescope(gradescope, tmp_path):
    root, env, built = gradescope
    answers = [as_answer(s) for s in solution_cells(HW)]
    right = _run(root, env, fill(built["student"], answers, tmp_path / "r" / "hw_layers.ipynb"),
                 "hw_layers.ipynb", built["autograder"])
    assert right["score"] == 36 and len(right["tests"]) == 8
    for t in right["tests"]:
        assert set(t) >= {"name", "score", "max_score", "output", "visibility"}
        assert t["score"] == t["max_score"] > 0
    assert "Protections" in right["output"] and "bubblewrap" in right["output"]
    wrong_answers = [a.replace('self.grads["b"] = dout.sum(axis=0)',
                               'self.grads["b"] = dout.mean(axis=0)') for a in answers]
    wrong = _run(root, env, fill(built["student"], wrong_answers,
                                 tmp_path / "w" / "my_homework.ipynb"), "my_homework.ipynb",
                 built["autograder"])
    tests = {t["name"]: t for t in wrong["tests"]}
    assert tests["q1_affine"]["score"] == 5 and "grads['b']" in tests["q1_affine"]["output"]
    assert tests["q7_conv"]["score"] == 7 and wrong["score"] == 34
