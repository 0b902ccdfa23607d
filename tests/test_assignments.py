"""End to end: build every assignment (otter assign), then grade the sources, the untouched
student versions, and plausible wrong answers to the homework set with the isolated grader.

The grading is one ``gradcheck-edu assignments grade --json --jobs 2`` call (each submission in
its own sandbox); the whole module takes well under two minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from otter_sources import SOURCES, as_answer, fill, hidden_tests, solution_cells, solution_lines

from gradcheck_edu import assignments

HW = next(p for p in SOURCES if p.stem == "hw_layers")

# homework question -> three wrong answers: (what a student got wrong, old text, new text, row)
WRONG = {
    "q1_affine": [
        ("dW transposed", 'self.grads["W"] = self.x.T @ dout', 'self.grads["W"] = dout.T @ self.x',
         "W"),
        ("db averaged over the batch (an extra 1/N)", 'self.grads["b"] = dout.sum(axis=0)',
         'self.grads["b"] = dout.mean(axis=0)', "b"),
        ("dx divided by N", 'return dout @ self.params["W"].T',
         'return dout @ self.params["W"].T / len(dout)', "x"),
    ],
    "q2_relu": [
        ("mask from dout, not from x", "return dout * (self.x > 0)", "return dout * (dout > 0)",
         "x"),
        ("dout forgotten", "return dout * (self.x > 0)", "return (self.x > 0) * 1.0", "x"),
        ("times the output instead of the mask", "return dout * (self.x > 0)",
         "return dout * np.maximum(0, self.x)", "x"),
    ],
    "q3_sigmoid": [
        ("1 - out forgotten", "return dout * self.out * (1 - self.out)",
         "return dout * self.out", "x"),
        ("out forgotten", "return dout * self.out * (1 - self.out)",
         "return dout * (1 - self.out)", "x"),
        ("a sign error", "return dout * self.out * (1 - self.out)",
         "return dout * self.out * (self.out - 1)", "x"),
    ],
    "q4_softmax": [
        ("the 1/N of the mean forgotten", "return dout * dx / n", "return dout * dx", "x"),
        ("dout forgotten", "return dout * dx / n", "return dx / n", "x"),
        ("the one-hot never subtracted", "dx[np.arange(n), self.y] -= 1", "pass", "x"),
    ],
    "q5_batchnorm": [
        ("the batch statistics treated as constants",
         "return (dxhat - dxhat.mean(axis=0)\n                - self.xhat * np.mean("
         "dxhat * self.xhat, axis=0)) * self.inv_std", "return dxhat * self.inv_std", "x"),
        ("dgamma without xhat", 'self.grads["gamma"] = np.sum(dout * self.xhat, axis=0)',
         'self.grads["gamma"] = np.sum(dout, axis=0)', "gamma"),
        ("dbeta averaged (an extra 1/N)", 'self.grads["beta"] = dout.sum(axis=0)',
         'self.grads["beta"] = dout.mean(axis=0)', "beta"),
    ],
    "q6_dropout": [
        ("the 1/p scaling forgotten", "return dout * self.mask / self.p",
         "return dout * self.mask", "x"),
        ("the mask forgotten", "return dout * self.mask / self.p", "return dout / self.p", "x"),
        ("times p instead of divided", "return dout * self.mask / self.p",
         "return dout * self.mask * self.p", "x"),
    ],
    "q7_conv": [
        ("a flipped kernel in dw",
         "dw += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))",
         "dw += np.tensordot(dout[:, :, i, j], window[:, :, ::-1, ::-1], axes=([0], [0]))", "w"),
        ("db averaged over positions", 'self.grads["b"] = dout.sum(axis=(0, 2, 3))',
         'self.grads["b"] = dout.mean(axis=(0, 2, 3))', "b"),
        ("the padding cropped from one side only",
         "return dxpad[:, :, p:dxpad.shape[2] - p, p:dxpad.shape[3] - p]",
         "return dxpad[:, :, :dxpad.shape[2] - 2 * p, :dxpad.shape[3] - 2 * p]", "x"),
    ],
    "q8_maxpool": [
        ("the gradient routed to every cell", "dx = is_max * dout[:, :, :, None, :, None]",
         "dx = np.ones_like(windows) * dout[:, :, :, None, :, None]", "x"),
        ("the gradient averaged over the window", "dx = is_max * dout[:, :, :, None, :, None]",
         "dx = np.ones_like(windows) * dout[:, :, :, None, :, None] / 4", "x"),
        ("the gradient always to the window's first cell",
         "is_max = windows == windows.max(axis=(3, 5), keepdims=True)",
         "is_max = np.zeros_like(windows)\n        is_max[:, :, :, 0, :, 0] = 1", "x"),
    ],
}
QUESTIONS = list(WRONG)
ROW_WORDS = {"x": "dx, the gradient"}


def _row_words(row: str) -> str:
    return ROW_WORDS.get(row, f"grads[{row!r}]")


def _wrong_answers(k: int) -> list[str]:
    """Every homework layer with its k-th wrong answer."""
    answers = [as_answer(s) for s in solution_cells(HW)]
    assert len(answers) == len(QUESTIONS)
    out = []
    for answer, q in zip(answers, QUESTIONS):
        _, old, new, _ = WRONG[q][k]
        assert answer.count(old) == 1, (q, old)
        out.append(answer.replace(old, new))
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    return out, assignments.build(out, SOURCES)


@pytest.fixture(scope="module")
def graded(build, tmp_path_factory):
    """submission kind -> assignment name -> the grade, from the CLI's JSON."""
    out, built = build
    subs = {("solution", n): b["solution"] for n, b in built.items()}
    subs.update({("student", n): b["student"] for n, b in built.items()})
    wrong_dir = tmp_path_factory.mktemp("wrong")
    for k in range(3):
        subs[(f"wrong{k}", "hw_layers")] = fill(built["hw_layers"]["student"], _wrong_answers(k),
                                                wrong_dir / f"{k}" / "hw_layers.ipynb")
    proc = subprocess.run([sys.executable, "-m", "gradcheck_edu", "assignments", "grade",
                           "--json", "--jobs", "2", "--autograder", str(out),
                           *[str(p) for p in subs.values()]],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # anything graded writes nothing to stderr
    by_path = {}
    for line in proc.stdout.splitlines():
        result = json.loads(line)
        by_path[result.pop("submission")] = result
    return {key: by_path[str(path)] for key, path in subs.items()}


def test_build_writes_what_to_hand_out_and_what_to_grade_with(build):
    out, built = build
    assert sorted(built) == sorted(p.stem for p in SOURCES)
    for name, paths in built.items():
        assert paths["student"] == out / "student" / f"{name}.ipynb"
        assert paths["autograder"].is_file() and paths["solution"].is_file()
        assert assignments.assignment_name(paths["student"]) == name


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_the_student_version_holds_no_solution_and_no_hidden_test(build, source):
    _, built = build
    text = built[source.stem]["student"].read_text()
    student = json.loads(text)
    solutions = solution_cells(source)
    answer_cells = [c for c in student["cells"]
                    if "otter_answer_cell" in c["metadata"].get("tags", [])]
    assert len(answer_cells) == len(solutions) >= 2
    lines = [line for s in solutions for line in solution_lines(s)]
    assert lines, source
    # the student's cells, and the whole file (metadata included)
    for line in lines:
        assert json.dumps(line)[1:-1] not in text, (source.stem, line)
    hidden = hidden_tests(source)
    assert hidden, f"{source.stem} has no hidden test"
    for test in hidden:
        name = test.split("def ", 1)[1].split("(", 1)[0]
        assert name not in text, (source.stem, name)
    assert text.count("grader.check(") >= 2


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_the_student_version_runs_up_to_its_first_exercise(build, source):
    _, built = build
    path = built[source.stem]["student"]
    nb = nbformat.read(path, as_version=4)
    first = next(i for i, c in enumerate(nb.cells)
                 if "otter_answer_cell" in c.metadata.get("tags", []))
    nb.cells = nb.cells[:first]
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], source.stem


def test_the_sources_get_full_marks(graded):
    for (kind, name), result in graded.items():
        if kind == "solution":
            assert result["max"] > 0 and result["total"] == result["max"], (name, result)
            assert all(q["points"] == q["max"] for q in result["questions"].values())


def test_an_untouched_student_version_gets_zero_with_feedback(graded):
    for (kind, name), result in graded.items():
        if kind != "student":
            continue
        assert result["total"] == 0 and len(result["questions"]) >= 2, name
        for q, r in result["questions"].items():
            assert r["points"] == 0 and r["max"] > 0
            assert "not answered" in r["feedback"] or "returns None" in r["feedback"], (name, q, r)


@pytest.mark.parametrize("k", range(3))
def test_wrong_answers_get_partial_credit_with_the_wrong_row_named(graded, k):
    result = graded[(f"wrong{k}", "hw_layers")]
    for q in QUESTIONS:
        what, _, _, row = WRONG[q][k]
        r = result["questions"][q]
        assert 0 < r["points"] < r["max"], (q, what, r)
        assert _row_words(row) in r["feedback"], (q, what, r["feedback"])
        rows = {"x", "W", "b", "w", "gamma", "beta"} - {row}
        assert not any(_row_words(other) in r["feedback"] for other in rows), (q, what)
        assert ".forward:" not in r["feedback"], (q, what)  # the forward pass kept its point


def test_graded_cells_write_nothing_to_stderr(build, tmp_path):
    """The student's notebook as they run it: each grader.check cell, with right and wrong
    answers, prints its feedback and nothing on stderr."""
    _, built = build
    cases = [(built["hw_layers"]["student"], [as_answer(s) for s in solution_cells(HW)]),
             (built["hw_layers"]["student"], _wrong_answers(0))]
    for i, (student, answers) in enumerate(cases):
        path = fill(student, answers, tmp_path / str(i) / student.name)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        checks = [c for c in nb.cells if c.cell_type == "code" and "grader.check(" in c.source]
        assert len(checks) == len(QUESTIONS)
        for cell in checks:
            assert cell.outputs, cell.source
            assert not [o for o in cell.outputs if o.get("name") == "stderr"
                        or o.output_type == "error"], cell.source
            shown = json.dumps([o.get("data", o.get("text")) for o in cell.outputs])
            assert ("passed" in shown) if i == 0 else ("WRONG" in shown), (i, shown[:300])


def test_grade_prints_points_per_question_and_the_total(build, capsys):
    from gradcheck_edu.cli import main

    out, built = build
    assert main(["assignments", "grade", str(built["06_homework_template"]["solution"]),
                 "--autograder", str(out)]) == 0
    text = capsys.readouterr().out
    assert "06_homework_template: 8 / 8 points" in text
    assert "q1_tanh" in text and "q2_batchnorm" in text
    assert Path(out / "student").is_dir()


def test_a_file_that_is_not_a_submission_is_reported_and_the_rest_graded(build, tmp_path,
                                                                          capsys):
    from gradcheck_edu.cli import main

    out, built = build
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_good.ipynb").write_bytes(built["06_homework_template"]["solution"].read_bytes())
    (folder / "b_source.ipynb").write_bytes(HW.read_bytes())  # a source, not a student version
    (folder / "c_broken.ipynb").write_text("not json")
    assert main(["assignments", "grade", str(folder), "--autograder", str(out), "--json"]) == 1
    rows = sorted((json.loads(line) for line in capsys.readouterr().out.splitlines()),
                  key=lambda r: r["submission"])  # one line each, as each one finishes
    assert [Path(r["submission"]).name for r in rows] == ["a_good.ipynb", "b_source.ipynb",
                                                          "c_broken.ipynb"]
    assert rows[0]["total"] == rows[0]["max"] == 8
    assert "not a student version" in rows[1]["error"] and "not a notebook" in rows[2]["error"]
