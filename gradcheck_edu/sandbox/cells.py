"""A submission's code cells, read in the grading process, and what running each one did.

The notebook is read as JSON (never executed here). Each code cell becomes a :class:`Cell`: its
index, its source with IPython syntax made inert (``%magic`` and ``!shell`` lines become
``pass``, a ``%%cell_magic`` line is dropped), and the top-level names it defines, found by
``ast``, so that a failure can be named by what it cost ("the cell defining Conv2d"). Cells
tagged ``otter_ignore`` or ``skip-execution`` are not run.
"""

from __future__ import annotations

import ast
import enum
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cell", "CellResult", "CellStatus", "read_cells", "defined_names", "cell_label"]

_SKIP_TAGS = {"otter_ignore", "skip-execution"}
_MAGIC = re.compile(r"^(\s*)[%!]")
_MAX_CELLS = 2000
_MAX_NOTEBOOK = 64 * 2**20  # bytes of the file (outputs included)
_MAX_SOURCE = 4 * 2**20  # characters of one cell


class CellStatus(enum.Enum):
    """What happened to a cell (or a call): it ran, raised, ran out of time, or killed its
    process (a crash, ``os._exit``) or its memory."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    MEMORY = "memory"


@dataclass(frozen=True)
class Cell:
    index: int  # position among all the notebook's cells
    source: str
    defines: tuple[str, ...]  # every top-level name it binds
    label: str  # how the student is told which cell: "the cell defining Conv2d"


@dataclass(frozen=True)
class CellResult:
    """One code cell run in the sandbox.

    index : its position among the notebook's cells. defines : the top-level names it defines
    (classes, functions, assignments, imports). status : a :class:`CellStatus`. message : ''
    when OK, else what happened, for the student ("the cell defining Conv2d ran past the 30 s
    limit", "ZeroDivisionError: division by zero" and the lines of their cells it came from).
    """

    index: int
    defines: tuple[str, ...]
    status: CellStatus
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is CellStatus.OK


def cell_label(index: int, defines: tuple[str, ...]) -> str:
    """``"the cell defining Conv2d"``, or ``"cell 7"`` for one that defines nothing."""
    shown = [n for n in defines if not n.startswith("_")][:3]
    return f"the cell defining {', '.join(shown)}" if shown else f"cell {index}"


def _label(index: int, source: str) -> str:
    """Named by its classes and functions, else its other names, else its imports."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError):
        return f"cell {index}"
    defs = tuple(n.name for n in body if isinstance(
        n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    imports = set(defined_names("\n".join(ast.unparse(n) for n in body if isinstance(
        n, (ast.Import, ast.ImportFrom)))))
    others = tuple(n for n in defined_names(source) if n not in defs and n not in imports)
    return cell_label(index, defs or others or tuple(imports))


def _inert(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return "\n".join(_MAGIC.sub(r"\1pass  # ", line) if _MAGIC.match(line) else line
                     for line in lines)


def defined_names(source: str) -> tuple[str, ...]:
    """The names a cell binds at its top level, in order (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    names: list[str] = []

    def targets(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                targets(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    return tuple(dict.fromkeys(names))


def read_cells(path: str | Path) -> list[Cell]:
    """The code cells of a notebook file, ready to run; ``ValueError`` if it is no notebook."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_NOTEBOOK:
            raise ValueError(f"it is larger than {_MAX_NOTEBOOK >> 20} MB")
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{path.name} is not a notebook (JSON .ipynb): {err}") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or len(cells) > _MAX_CELLS:
        raise ValueError(f"{path.name} is not a notebook: no list of cells")
    out = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata")
        tags = meta.get("tags") if isinstance(meta, dict) else None
        if isinstance(tags, list) and _SKIP_TAGS & {t for t in tags if isinstance(t, str)}:
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str) or not source.strip():
            continue
        if len(source) > _MAX_SOURCE:  # it could not even be sent: a cell that fails, said so
            source = f"raise SyntaxError('this cell is longer than {_MAX_SOURCE >> 20} MB')"
        source = _inert(source)
        out.append(Cell(index, source, defined_names(source), _label(index, source)))
    return out
