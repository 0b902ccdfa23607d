"""The isolated grader's parts: secret-seeded inputs, rows against the reference, the build's
check of the references, the points a student sees, a renamed submission, the gradebook."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from otter_sources import SOURCES, as_answer, fill, solution_cells

from gradcheck_edu import assignments
from gradcheck_edu.autograde.layers import LayerSpec, RowFailed, layer_rows, require_layer_row
from gradcheck_edu.autograde.runtests import Autograder, seed_for

HW = next(p for p in SOURCES if p.stem == "hw_layers")


class Affine:
    def __init__(self, n_in, n_out):
        self.params = {"W": np.ones((n_in, n_out)), "b": np.zeros(n_out)}
        self.grads = {"W": np.zeros((n_in, n_out)), "b": np.zeros(n_out)}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T


class Accumulates(Affine):
    def backward(self, dout):
        self.grads["W"] += self.x.T @ dout
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T


class Constant(Affine):
    def forward(self, x):
        return np.zeros((len(x), self.params["W"].shape[1]))

    def backward(self, dout):
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return np.zeros((len(dout), self.params["W"].shape[0]))


SPEC = LayerSpec("Affine", make=lambda cls, rng: cls(5, 3),
                 x=lambda rng: rng.standard_normal((4, 5)), shown_seed=11)


def test_seeds_depend_on_the_secret_the_student_and_the_question():
    seeds = {seed_for(s, who, q) for s in (b"a", b"b") for who in ("ada", "bob")
             for q in ("q1", "q2")}
    assert len(seeds) == 8 and all(0 <= s < 2**63 for s in seeds)


def test_each_student_gets_other_inputs_and_the_reference_passes():
    seen = []
    for seed in (1, 2):
        rows = layer_rows(Affine, Affine, LayerSpec(
            "Affine", make=SPEC.make, x=lambda rng: seen.append(rng.standard_normal((4, 5)))
            or seen[-1]), seed)
        assert all(r.passed for r in rows.values())
    assert not np.allclose(seen[0], seen[1])


def test_a_constant_forward_earns_no_row_and_accumulation_is_named():
    rows = layer_rows(Constant, Affine, SPEC, seed=5)
    assert not any(r.passed for r in rows.values())
    rows = layer_rows(Accumulates, Affine, SPEC, seed=5)
    assert rows["forward"].passed and rows["x"].passed and rows["b"].passed
    assert not rows["W"].passed and "accumulates" in rows["W"].feedback
    with pytest.raises(RowFailed, match="accumulates") as err:
        require_layer_row(Accumulates, Affine, 5, "W", SPEC)
    assert err.value.verdict == "WRONG" and err.value.kind == "scale"


def test_without_a_reference_the_rows_are_advice_by_finite_differences():
    require_layer_row(Affine, None, None, "W", SPEC)  # the student's own grader.check
    with pytest.raises(RowFailed, match="hidden test"):
        require_layer_row(Affine, None, None, "forward", SPEC)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    return out, assignments.build(out, [HW])["hw_layers"]


@pytest.mark.course
def test_the_build_checks_the_references_and_fails_on_a_wrong_one(built, tmp_path):
    out, paths = built
    assert (out / "autograder" / "secret").is_file()
    assert Autograder(paths["autograder"]).secret
    assert "secret" not in json.dumps(json.loads(paths["student"].read_text())["metadata"])
    text = HW.read_text().replace("return dout * self.out * (1 - self.out)",
                                  "return dout * self.out * (1 + self.out)")
    assert text != HW.read_text()
    wrong = tmp_path / "hw_layers.ipynb"
    wrong.write_text(text)
    with pytest.raises(RuntimeError, match="reference fails test_q3_sigmoid_x"):
        assignments.build(tmp_path / "out", [wrong])


@pytest.mark.course
def test_the_points_a_student_sees_are_the_autograders(built):
    _, paths = built
    grader = {c.name: c.points for q in Autograder(paths["autograder"]).questions
              for c in q.cases}
    nb = json.loads(paths["student"].read_text())
    for q, text in nb["metadata"]["otter"]["tests"].items():
        cases = re.findall(r"^def (test_\w+)\(", text, flags=re.M)
        shown = json.loads(re.search(r"^points = (.*)$", text, flags=re.M).group(1))
        assert shown == [grader[c] for c in cases], q
    # the "grade so far" cell prints the autograder's points of Affine's gradient rows
    cell = next("".join(c["source"]) for c in nb["cells"]
                if "print(grade_layer(Affine" in "".join(c["source"]))
    rows = {k.removeprefix("test_q1_affine_"): v for k, v in grader.items()
            if k.startswith("test_q1_affine_") and not k.endswith("forward")}
    shown = re.search(r"points=(\{[^}]*\})", cell).group(1)
    assert json.loads(shown) == rows


@pytest.mark.course
def test_a_renamed_submission_is_graded_and_the_gradebook_written(built, tmp_path):
    out, paths = built
    folder = tmp_path / "class"
    alice = fill(paths["student"], [as_answer(s) for s in solution_cells(HW)],
                 folder / "alice.ipynb")
    assert assignments.notebook_path("hw_layers", folder) == "alice.ipynb"  # its grader.check
    shutil.copyfile(paths["student"], folder / "bob.ipynb")
    with pytest.raises(FileNotFoundError, match="more than one"):
        assignments.notebook_path("hw_layers", folder)
    proc = subprocess.run([sys.executable, "-m", "gradcheck_edu", "assignments", "grade",
                           str(folder), "--autograder", str(out), "--json", "--csv",
                           str(tmp_path / "grades.csv"), "--jobs", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    results = {Path(r["submission"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    assert results["alice.ipynb"]["total"] == 36 and results["bob.ipynb"]["total"] == 0
    rows = results["bob.ipynb"]["questions"]["q1_affine"]["rows"]
    assert set(rows) == {"forward", "x", "W", "b"}
    assert {k: v for k, v in rows["W"].items() if k != "feedback"} == {
        "points": 0.0, "max": 2.0, "verdict": None, "kind": "not answered"}
    assert "forward returns None" in rows["W"]["feedback"] and "grads['W']" in rows["W"]["feedback"]
    book = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert {(r["student_id"], float(r["total"])) for r in book} == {("alice", 36.0),
                                                                     ("bob", 0.0)}
    assert alice.is_file()


@pytest.mark.course
def test_without_the_sandbox_every_result_says_so(built, tmp_path):
    out, paths = built
    proc = subprocess.run([sys.executable, "-m", "gradcheck_edu", "assignments", "grade",
                           str(paths["solution"]), "--autograder", str(out), "--json",
                           "--unsafe-no-sandbox"], capture_output=True, text=True, timeout=300)
    result = json.loads(proc.stdout)
    assert result["total"] == 36
    assert any(p.endswith(": OFF") for p in result["protections"]), result["protections"]


def test_unanswered_names_are_read_without_running_the_notebook(tmp_path):
    from gradcheck_edu.autograde.runtests import unanswered_names

    cells = ["def f(x):\n    '''doc'''\n    ...", "g = ...\nh = 1", "def k():\n    return 1",
             "import os\nos._exit(1)", "def broken(:", "h = ..."]
    nb = {"cells": [{"cell_type": "code", "source": c, "metadata": {}} for c in cells]}
    path = tmp_path / "sub.ipynb"
    path.write_text(json.dumps(nb))
    assert unanswered_names(path) == {"f", "g", "h"}
    path.write_text("not json")
    assert unanswered_names(path) == set()
