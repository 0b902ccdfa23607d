"""Read the course's otter-format sources, and fill a student version with answers (for tests).

A source marks its answer cells with raw ``# BEGIN SOLUTION`` / ``# END SOLUTION`` cells; inside
them, solution code sits between ``# BEGIN SOLUTION`` / ``# END SOLUTION`` comment lines or on a
line ending ``# SOLUTION``. Test cells sit between raw ``# BEGIN TESTS`` / ``# END TESTS`` cells;
a hidden one starts with ``# HIDDEN``. (The student version itself is made by otter, not here.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from gradcheck_edu.assignments import sources

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sources(ROOT)  # the notebooks and homework that carry an otter assignment config


def _cells(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())["cells"]


def _text(cell: dict) -> str:
    return "".join(cell["source"])


def _region(path: Path, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for cell in _cells(path):
        text = _text(cell).strip()
        if cell["cell_type"] == "raw" and text.startswith(begin):
            inside = True
        elif cell["cell_type"] == "raw" and text.startswith(end):
            inside = False
        elif inside and cell["cell_type"] == "code":
            out.append(_text(cell))
    return out


def solution_cells(path: Path) -> list[str]:
    """The answer cells of a source, with their solutions, in order."""
    return _region(path, "# BEGIN SOLUTION", "# END SOLUTION")


def tests_in(path: Path) -> list[str]:
    return _region(path, "# BEGIN TESTS", "# END TESTS")


def hidden_tests(path: Path) -> list[str]:
    return [t for t in tests_in(path) if t.lstrip().startswith("# HIDDEN")]


def as_answer(source: str) -> str:
    """What a student who wrote the solution hands in: the marker comments dropped."""
    lines = []
    for line in source.splitlines():
        if re.match(r"\s*# (BEGIN|END) SOLUTION", line):
            continue
        lines.append(re.sub(r"\s*# SOLUTION$", "", line))
    return "\n".join(lines)


def solution_lines(source: str) -> list[str]:
    """The lines of code that only the solution has (stripped; short ones left out)."""
    out, inside = [], False
    for line in source.splitlines():
        if re.match(r"\s*# BEGIN SOLUTION", line):
            inside = True
        elif re.match(r"\s*# END SOLUTION", line):
            inside = False
        elif inside or line.rstrip().endswith("# SOLUTION"):
            text = re.sub(r"\s*# SOLUTION$", "", line).strip()
            if "=" in text and line.rstrip().endswith("# SOLUTION"):
                text = text.split("=", 1)[1].strip()  # the right-hand side is the answer
            if len(text) >= 8 and not text.startswith("#"):
                out.append(text)
    return out


def fill(student: Path, answers: list[str], out: Path) -> Path:
    """A copy of a student notebook with its answer cells (in order) replaced by ``answers``."""
    nb = json.loads(Path(student).read_text())
    cells = [c for c in nb["cells"] if "otter_answer_cell" in c["metadata"].get("tags", [])]
    assert len(cells) == len(answers), (student, len(cells), len(answers))
    for cell, answer in zip(cells, answers):
        cell["source"] = answer
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1))
    return out


def questions(path: Path) -> dict[str, list[str]]:
    """Question name -> the code of its answer cells (with their solutions), in order."""
    out: dict[str, list[str]] = {}
    name, inside = None, False
    for cell in _cells(path):
        text = _text(cell).strip()
        if cell["cell_type"] == "raw" and text.startswith("# BEGIN QUESTION"):
            name = re.search(r"^name:\s*(\S+)", text, re.M).group(1)
            out[name] = []
        elif cell["cell_type"] == "raw" and text.startswith("# END QUESTION"):
            name = None
        elif cell["cell_type"] == "raw" and text.startswith("# BEGIN SOLUTION"):
            inside = True
        elif cell["cell_type"] == "raw" and text.startswith("# END SOLUTION"):
            inside = False
        elif inside and name and cell["cell_type"] == "code":
            out[name].append(_text(cell))
    return out


def source_only_cells(path: Path) -> list[str]:
    """The cells a source keeps out of the student version: markdown inside a solution region
    (otter deletes it) and cells whose first line is ``# ignore`` (otter drops them)."""
    out, inside = [], False
    for cell in _cells(path):
        text = _text(cell)
        if cell["cell_type"] == "raw" and text.strip().startswith("# BEGIN SOLUTION"):
            inside = True
        elif cell["cell_type"] == "raw" and text.strip().startswith("# END SOLUTION"):
            inside = False
        elif (inside and cell["cell_type"] == "markdown") or re.match(
                r"(##\s*ignore\s*##\s*|#\s*ignore\s*)", text, flags=re.IGNORECASE):
            out.append(text)
    return out
