"""The homework template passes when filled in with the reference solution, and only then."""

import json
from pathlib import Path

from homework_solution import SOLUTIONS

import gradcheck_edu as ge

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_homework_template.ipynb"


def _run(solutions):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace: dict = {}
    marked = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        first = source.splitlines()[0] if source else ""
        if first.startswith("# STUDENT:"):
            key = first.split(":", 1)[1].strip()
            marked.add(key)
            source = solutions.get(key, source)
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    assert marked == set(SOLUTIONS)
    return namespace["results"]


def test_reference_solution_passes():
    results = _run(SOLUTIONS)
    assert all(r.verdict is ge.Verdict.EXCELLENT for r in results.values())


def test_the_unfilled_template_fails():
    results = _run({})
    assert all(r.verdict is ge.Verdict.WRONG for r in results.values())
