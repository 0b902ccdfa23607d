"""The package's layout rules, checked on its source.

* No module over MAX_LINES lines: each module is one idea a reader can hold.
* No private name (``_x``, dunders aside) imported from another module of the package: what two
  modules share is a documented internal name without an underscore.
* No import circle between the package's modules, counting imports inside functions too.
* ``import gradcheck_edu`` loads neither matplotlib, SciPy, nor the MLP.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gradcheck_edu"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for each import of a package module."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("gradcheck_edu"):
                continue
            names = [a.name for a in node.names]
            # ``from . import bugs`` imports the submodule gradcheck_edu.bugs
            subs = [n for n in names if f"{target}.{n}" in MODULES]
            for n in subs:
                found.append((f"{target}.{n}", [], node.lineno))
            rest = [n for n in names if n not in subs]
            if rest:
                found.append((target, rest, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("gradcheck_edu"):
                    found.append((a.name, [], node.lineno))
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    n = len(MODULES[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines; split it along its ideas (limit {MAX_LINES})"


def _private(n: str) -> bool:
    return n.startswith("_") and not (n.startswith("__") and n.endswith("__"))


def test_no_private_name_crosses_modules():
    bad = []
    for name, path in MODULES.items():
        aliases = set()
        for target, names, line in _imports(name, path):
            if not names:  # a module imported whole: ``from . import bugs``
                aliases.add(target.rpartition(".")[2])
            for n in names:
                if _private(n):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {n} "
                               f"from {target}")
        # ``bugs._find(...)`` reaches into another module as surely as an import does
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} uses "
                           f"{node.value.id}.{node.attr}")
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_no_import_circle():
    graph = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    # a package importing its own submodules is how packages work; a submodule importing its
    # package root (``from .. import x``) closes a circle and is caught
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        path = path + [node]
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [nxt])
                return True
            if nxt not in state and visit(nxt, path):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if node not in state and visit(node, []):
            break
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_import_is_light():
    code = ("import sys, gradcheck_edu; "
            "heavy = [m for m in ('matplotlib', 'scipy', 'gradcheck_edu.nn', "
            "'gradcheck_edu.diagnose', 'gradcheck_edu.plots') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"import gradcheck_edu loaded {out}"


def test_subpackages_are_attributes_loaded_lazily():
    code = ("import sys, gradcheck_edu as ge; before = 'gradcheck_edu.nn' in sys.modules; "
            "m = ge.nn.MLP([2, 3, 2]); X, y = ge.datasets.spiral(5, 2, seed=0); "
            "print(before, type(m).__name__, len(ge.bugs.catalog()) > 0, "
            "callable(ge.diagnose.checklist), callable(ge.plots.plot_secants))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "MLP", "True", "True", "True"]
    import gradcheck_edu as ge
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ge.nope  # noqa: B018


def _layout_map() -> list[str]:
    """The rows of the README's "How the package is laid out" table, in order."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## How the package is laid out", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_readme_layout_map_matches_the_tree():
    rows = _layout_map()
    first_cells = " ".join(row.split(" | ")[0] for row in rows)
    named = set(re.findall(r"`([\w./]+)`", first_cells))
    on_disk = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py",
                                                                        "__main__.py")}
    on_disk |= {f"{p.name}/" for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert on_disk - named == set(), f"in the package but not in the README map: {on_disk - named}"
    assert named - on_disk == set(), f"in the README map but not in the package: {named - on_disk}"
    # a subpackage's row names each of its modules
    for row in rows:
        for sub in re.findall(r"`(\w+)/`", row.split(" | ")[0]):
            modules = {p.stem for p in (PACKAGE / sub).glob("*.py") if p.stem != "__init__"}
            missing = {m for m in modules if f"`{m}`" not in row}
            if sub in ("nn",):  # described as a whole in its row
                continue
            assert not missing, f"README map row for {sub}/ does not name {sorted(missing)}"


def test_the_numerics_never_import_the_model_the_checklist_or_the_plots():
    rows = _layout_map()
    numerics = []
    for row in rows:
        if "`nn/`" in row.split(" | ")[0]:
            break
        numerics += re.findall(r"`(\w+)\.py`", row.split(" | ")[0])
        numerics += [f"{d}" for d in re.findall(r"`(\w+)/`", row.split(" | ")[0])]
    assert "basics" in numerics and "check" in numerics
    forbidden = ("gradcheck_edu.nn", "gradcheck_edu.diagnose", "gradcheck_edu.plots")
    for name, path in MODULES.items():
        if name.count(".") == 0 or name.split(".")[1] not in numerics:
            continue
        for target, _, line in _imports(name, path):
            assert not target.startswith(forbidden), f"{name}:{line} imports {target}"


def test_verdicts_are_compared_as_enums_not_by_name():
    # `verdict is Verdict.CANNOT_TELL`, never `verdict.name == "CANNOT_TELL"`: a renamed member
    # would silently change what such a comparison means
    names = "|".join(("EXCELLENT", "ACCEPTABLE", "SUSPICIOUS", "WRONG", "CANNOT_TELL"))
    by_name = re.compile(rf"""\.name\s*(==|!=|in)\s*[(\[{{]?\s*["']({names})["']""")
    found = [f"{name}:{i}" for name, path in MODULES.items()
             for i, line in enumerate(path.read_text().splitlines(), 1) if by_name.search(line)]
    assert not found, found
