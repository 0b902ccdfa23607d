"""Notebooks (the course's and the homework sources in assignments/) are stored without
outputs, with the python3 kernel."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HOMEWORK = sorted((ROOT / "assignments").glob("*.ipynb"))


def test_the_course_notebooks_are_there():
    names = [p.name[:2] for p in NOTEBOOKS]
    assert names == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS + HOMEWORK, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


def _code(path):
    nb = json.loads(path.read_text())
    return ["".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_come_from_the_library(path):
    """No plotting code pasted into cells, and nothing saved into the tree: figures come from
    gradcheck_edu.plots (or a result's .plot()), the functions `gradcheck-edu figures` calls."""
    for source in _code(path):
        for banned in ("matplotlib", "plt.", "savefig", ".set_title(", ".set_xlabel("):
            assert banned not in source, f"{path.name}: {banned!r} in a code cell"


LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("06")]  # 06: students run it unfilled


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_numbers_in_the_prose_are_checked(path):
    """Each lesson asserts what its prose states (the homework template is graded by
    tests/test_homework.py instead)."""
    assert sum(source.count("assert ") for source in _code(path)) >= 3, path.name
