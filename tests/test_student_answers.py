"""The student versions do not give the answers away.

Built with otter-grader itself (``assignments.build``): for every question of every source, the
student version (its cells and the public tests in its metadata) holds neither the literal answer
of the ``# SOLUTION`` lines (bug names, numbers, the set of names a question asks for) nor the text
the source shows only with its solutions (solution-region prose, ``# ignore`` cells). The answers
to notebook 04's mysteries are not in the library's source either; a right answer's explanation
reaches the student in the feedback of ``grader.check``, and only after a right answer.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from otter_sources import SOURCES, as_answer, fill, questions, solution_cells, source_only_cells

import gradcheck_edu
from gradcheck_edu import assignments

# Answers that are not specific enough to scan for (none left: notebook 05's q3 asks for a rate of
# SGD with momentum, while the sections a student sees train with Adam).
NOT_SPECIFIC: set[tuple[str, str]] = set()

# What the new-user trial found in the student versions, right after the exercises.
TRIAL_REVEALS = {
    "02_error_order": ["has the order of the\nmethod, 1, 1, 2, 4", "$6\\times10^{-6}$ central",
                       "truncation slope {row['order']:.2f}", "for the Richardson (five-point)",
                       "$\\varepsilon^2$ for central", "its stencil is exact for cubics"],
    "03_gradient_check_mlp": ["`W3` alone is WRONG"],
    "04_find_the_bug": ["Only `W1` and `b1` are wrong", "the fix: gradcheck_edu.nn.Linear.backward",
                        "MYSTERY_BUGS", "c = −λ, the L2 strength",
                        "whose `dx` feeds `W1` and `b1`", "is_mystery", "inject_mystery",
                        "MYSTERY_DIGESTS"],
    "05_debugging_training": ["1.0986 for 3 classes", "one rate that repairs it",
                              "The whole checklist with"],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return assignments.build(tmp_path_factory.mktemp("course"), SOURCES)


def _student(built, source) -> tuple[list[str], str]:
    """The student version's cells (sources) and all of its text: cells and metadata tests."""
    nb = json.loads(built[source.stem]["student"].read_text())
    cells = ["".join(c["source"]) for c in nb["cells"]]
    tests = nb["metadata"].get("otter", {}).get("tests", {})
    return cells, "\n".join(cells + [str(t) for t in tests.values()])


def _renderings(value: float, literal: str) -> set[str]:
    """The ways a notebook writes a number: as typed, 4-5 significant digits, and for small or
    large ones ``6e-06``, ``6e-6``, ``6\\times10^{-6}``."""
    out = {f"{value:.5g}", f"{value:.4g}"}
    if re.fullmatch(r"[0-9.eE+-]+", literal):
        out.add(literal)
    if value and not 1e-3 <= abs(value) < 1e4:
        mantissa, exponent = f"{value:.0e}".split("e")
        e = int(exponent)
        out |= {f"{mantissa}e{e}", f"{mantissa}e{exponent}", f"{mantissa}\\times10^{{{e}}}"}
    return out


def literal_answers(code: str) -> tuple[set[str], list[set[str]]]:
    """From the ``name = value  # SOLUTION`` lines of an answer cell: the strings and numbers that
    are specific enough to give the answer away (strings of 4 characters or more that are not dict
    keys; numbers other than small whole ones, in the ways they are written), and the sets of
    short names (``{"W1", "b1"}``) an answer is made of."""
    texts: set[str] = set()
    name_sets: list[set[str]] = []
    for line in code.splitlines():
        if not line.rstrip().endswith("# SOLUTION"):
            continue
        try:
            tree = ast.parse(re.sub(r"\s*# SOLUTION$", "", line).strip())
        except SyntaxError:  # a 'return ...' line: code, checked by test_assignments
            continue
        node = tree.body[0]
        if not isinstance(node, ast.Assign):
            continue
        value = node.value
        keys = {id(k) for d in ast.walk(value) if isinstance(d, ast.Dict) for k in d.keys}
        strings = [c.value for c in ast.walk(value) if isinstance(c, ast.Constant)
                   and isinstance(c.value, str) and id(c) not in keys]
        texts |= {s for s in strings if len(s) >= 4}
        if isinstance(value, (ast.Set, ast.List, ast.Tuple)) and strings and all(
                len(s) < 4 for s in strings):
            name_sets.append(set(strings))
        names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
        if names <= {"np"} and not strings:
            number = eval(compile(ast.Expression(value), "<answer>", "eval"), {"np": np})
            values = number.values() if isinstance(number, dict) else [number]
            for v in values:
                if isinstance(v, (int, float, np.floating)) and not (
                        float(v).is_integer() and abs(v) < 10):
                    texts |= _renderings(float(v), ast.unparse(value))
    return texts, name_sets


def test_the_literal_answers_are_read():
    """The reader of the answers finds what the questions ask for."""
    texts, sets = literal_answers('mystery = "bias_grad_wrong_axis"  # SOLUTION')
    assert texts == {"bias_grad_wrong_axis"} and sets == []
    texts, _ = literal_answers("best = 6e-6  # SOLUTION")
    assert {"6e-6", "6e-06", "6\\times10^{-6}"} <= texts
    texts, _ = literal_answers("chance = -np.log(1 / 3)  # SOLUTION")
    assert f"{np.log(3):.4f}" in texts
    texts, sets = literal_answers('at_fault = {"W1", "b1"}  # SOLUTION')
    assert texts == set() and sets == [{"W1", "b1"}]
    texts, sets = literal_answers('order = {"forward": 1, "central": 2}  # SOLUTION')
    assert texts == set() and sets == []  # the keys are the question's, small slopes not specific


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_answer_follows_the_exercises(built, source):
    cells, text = _student(built, source)
    asked = questions(source)
    assert asked and all(asked.values()), source.stem
    for question, code in asked.items():
        if (source.stem, question) in NOT_SPECIFIC:
            continue
        for answer in code:
            texts, name_sets = literal_answers(answer)
            for literal in texts:
                assert literal not in text, (source.stem, question, literal)
            for names in name_sets:
                for cell in cells:
                    words = set(re.findall(r"\w+", cell))
                    assert not names <= words, (source.stem, question, names, cell[:200])
    for hidden in source_only_cells(source):
        code = hidden.lstrip().startswith("#")  # an '# ignore' cell: what it prints and asserts
        for line in map(str.strip, hidden.splitlines()):
            if len(line) >= 30 and (not code or line.startswith(("print(", "assert "))):
                assert line not in text, (source.stem, line)
    for phrase in TRIAL_REVEALS.get(source.stem, []):
        assert phrase not in text, (source.stem, phrase)


def test_the_lessons_keep_their_explanations_in_the_source():
    """What left the student versions still stands, and is asserted, in the sources (nbmake runs
    them): each lesson 02-05 keeps prose or checks that only its source shows."""
    for source in SOURCES:
        if source.stem[:2] in {"02", "03", "04", "05"}:
            hidden = source_only_cells(source)
            assert any("assert " in h for h in hidden), source.stem
            assert any(not h.lstrip().startswith("#") for h in hidden), source.stem


def test_the_mystery_answers_are_not_in_the_library():
    mysteries = next(p for p in SOURCES if p.stem == "04_find_the_bug")
    names = set()
    for code in solution_cells(mysteries):
        names |= literal_answers(code)[0]
    assert len(names) == 2, names  # mysteries 2 and 3 ask for a bug's name
    package = Path(gradcheck_edu.__file__).parent
    for module in package.rglob("*.py"):
        if module.name != "bugs.py":  # the catalog itself, where the student chooses from
            for name in names:
                assert name not in module.read_text(), (module, name)


def test_the_explanation_comes_only_with_a_right_answer(built, tmp_path):
    """Notebook 04 as a student runs it: each check prints its explanation after a right answer
    and neither the explanation nor the answer after a wrong one."""
    source = next(p for p in SOURCES if p.stem == "04_find_the_bug")
    student = built[source.stem]["student"]
    right = [as_answer(s) for s in solution_cells(source)]
    wrong = ['at_fault_1 = {"W2"}', right[1].replace('self.params["W"].T', 'self.params["W"]'),
             'mystery_2 = "sign_error"', 'mystery_3 = "sign_error"']
    answers = set()
    for code in solution_cells(source):
        answers |= literal_answers(code)[0]
    shown = {}
    for kind, cells in (("right", right), ("wrong", wrong)):
        path = fill(student, cells, tmp_path / kind / student.name)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        checks = [c for c in nb.cells if c.cell_type == "code" and "grader.check(" in c.source]
        assert len(checks) == 4
        for cell in checks:
            assert not [o for o in cell.outputs if o.get("name") == "stderr"
                        or o.output_type == "error"], cell.source
        shown[kind] = [json.dumps([o.get("data", o.get("text")) for o in c.outputs])
                       for c in checks]
    for right_out, wrong_out in zip(shown["right"], shown["wrong"]):
        assert "right." in right_out or "EXCELLENT." in right_out, right_out[:300]
        assert "right." not in wrong_out and "EXCELLENT." not in wrong_out, wrong_out[:300]
        for answer in answers:
            assert answer not in wrong_out, (answer, wrong_out[:300])
    # the explanations: the parameters at fault, the bug fixed, the two mysteries' names
    assert "W1 and b1 fail" in shown["right"][0]
    assert "The bug was" in shown["right"][1]
    assert sum(any(a in out for a in answers) for out in shown["right"][2:]) == 2


def _student_imports(cells: list[str]) -> dict[str, object]:
    """What the code cells of a student version import from gradcheck_edu: name -> object."""
    import importlib

    found: dict[str, object] = {}
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except SyntaxError:  # an answer cell with ... or a magic
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradcheck_ed"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    found[alias.asname or alias.name] = getattr(module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("gradcheck_edu"):
                        found[alias.asname or alias.name] = importlib.import_module(alias.name)
    return found


def _oracles(modules: set, numbers: range, names: list[str]) -> list[str]:
    """The public functions of ``modules`` (their ``__all__``) that, called with a mystery number
    and a catalog name (either order), answer True for exactly one name: a name recovered.
    Functions that return a Feedback judge the caller's own answer, as grader.check does."""
    import inspect
    import warnings

    from gradcheck_edu.feedback import Feedback

    found = []
    for module in modules:
        for attr in getattr(module, "__all__", []):
            func = getattr(module, attr)
            if not inspect.isfunction(func):
                continue
            for k in numbers:
                for order in ((k, None), (None, k)):
                    try:
                        inspect.signature(func).bind(*order)
                    except TypeError:
                        continue
                    answers = []
                    for name in names:
                        args = tuple(name if a is None else a for a in order)
                        try:
                            with warnings.catch_warnings():
                                warnings.simplefilter("ignore")
                                answers.append(func(*args))
                        except Exception:
                            answers.append(None)
                    if any(isinstance(a, Feedback) for a in answers):
                        continue
                    if sum(a is True or a is np.True_ for a in answers) == 1:
                        found.append(f"{module.__name__}.{attr}{order}")
    return found


def test_the_student_versions_import_no_way_to_the_answers(built):
    """Every public function of every module a student version imports from, called with a
    mystery's number and each name of the catalog, singles out no name (notebook 04 used to import
    is_mystery: ``[b.name for b in bugs.catalog() if is_mystery(2, b.name)]`` printed mystery 2)."""
    import types

    from gradcheck_edu import bugs, examples

    names = [b.name for b in bugs.catalog()]
    assert _oracles({examples}, range(1, 4), names) == []  # the module notebook 04 imports from
    assert examples.is_mystery(2, "bias_grad_wrong_axis") is not None  # the sources' own check
    probe = types.ModuleType("probe")
    probe.__all__, probe.is_mystery = ["is_mystery"], examples.is_mystery
    assert _oracles({probe}, range(1, 4), names) == [  # the scan finds an oracle
        "probe.is_mystery(1, None)", "probe.is_mystery(2, None)", "probe.is_mystery(3, None)"]
    for source in SOURCES:
        cells, _ = _student(built, source)
        imported = _student_imports(cells)
        modules = {v for v in imported.values() if isinstance(v, types.ModuleType)}
        modules |= {sys.modules.get(getattr(v, "__module__", "")) for v in imported.values()
                    if callable(v)}
        assert "is_mystery" not in imported and "inject_mystery" not in imported, source.stem
        assert _oracles(modules - {None}, range(1, 4), names) == [], source.stem


def test_the_demo_answers_no_exercise(capsys):
    """The demo's own output (the README prints it) states no answer: not the literal answers,
    not the phrases the trial found, and its bug is no mystery of notebook 04 (the demo used to
    print mystery 1's very model, batch and bug)."""
    from gradcheck_edu import cli
    from gradcheck_edu.examples import bug_exercise, is_mystery, mystery_bug

    cli.demo(figures=None)
    text = capsys.readouterr().out
    assert "located:" in text and cli.DEMO_BUG in text
    assert not any(is_mystery(k, cli.DEMO_BUG) for k in (1, 2, 3))
    demo_report = bug_exercise(cli.DEMO_BUG)[1]
    for k in (1, 2, 3):
        assert mystery_bug(k)[1].relative_error != demo_report.relative_error
    assert "dout @ W.T" not in text and "located: the gradients of W1, b1 are wrong" not in text
    for source in SOURCES:
        for question, code in questions(source).items():
            for answer in code:
                for literal in literal_answers(answer)[0]:
                    assert literal not in text, (source.stem, question, literal)
        for phrase in TRIAL_REVEALS.get(source.stem, []):
            assert phrase not in text, (source.stem, phrase)
