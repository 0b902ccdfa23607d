"""The homework template passes when filled in with the reference solution, and only then.

Each plausible wrong answer a student might hand in must be graded as failing: the grade is the
notebook's own ``grade`` cell (``check_layer`` with its defaults) on the notebook's own input.
"""

import json
from pathlib import Path

import pytest
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


def _variant(key, old, new):
    """The reference solution of ``key`` with one line changed as a student might get it wrong."""
    source = SOLUTIONS[key]
    assert source.count(old) == 1, (key, old)
    return source.replace(old, new)


BN_RETURN = """return (dxhat - dxhat.mean(axis=0)
                - self.xhat * np.mean(dxhat * self.xhat, axis=0)) * self.inv_std"""

# name -> (homework part, wrong source, the rows of the table that must fail)
WRONG_SOLUTIONS = {
    "tanh: 1 - out instead of 1 - out**2": (
        "tanh", _variant("tanh_backward", "(1 - self.out**2)", "(1 - self.out)"), {"x"}),
    "tanh: derivative at the input, 1 - x**2": (
        "tanh", _variant("tanh_backward", "def backward(self, dout):",
                         "def forward(self, x):\n        self.x = x\n        self.out = np.tanh(x)"
                         "\n        return self.out\n\n    def backward(self, dout):")
        .replace("(1 - self.out**2)", "(1 - self.x**2)"), {"x"}),
    "batch norm: dx left as zeros, dgamma and dbeta right": (
        "batchnorm", _variant("batchnorm_backward", BN_RETURN, "return np.zeros_like(dout)"),
        {"x"}),
    "batch norm: mean and variance treated as constants": (
        "batchnorm", _variant("batchnorm_backward", BN_RETURN,
                              "return dxhat * self.inv_std"), {"x"}),
    "batch norm: the mean over the batch forgotten (no 1/N)": (
        "batchnorm", _variant("batchnorm_backward", BN_RETURN,
                              """return (dxhat - dxhat.sum(axis=0)
                - self.xhat * np.sum(dxhat * self.xhat, axis=0)) * self.inv_std"""), {"x"}),
    "batch norm: only the variance term forgotten": (
        "batchnorm", _variant("batchnorm_backward", BN_RETURN,
                              "return (dxhat - dxhat.mean(axis=0)) * self.inv_std"), {"x"}),
    "batch norm: dgamma from the input, not from xhat": (
        "batchnorm", _variant("batchnorm_backward", "np.sum(dout * self.xhat, axis=0)",
                              "np.sum(dout * self.mean, axis=0)"), {"gamma"}),
    "batch norm: dbeta not summed over the batch": (
        "batchnorm", _variant("batchnorm_backward", 'self.grads["beta"] = dout.sum(axis=0)',
                              'self.grads["beta"] = dout.mean(axis=0)'), {"beta"}),
}


def test_reference_solution_passes():
    results = _run(SOLUTIONS)
    assert set(results) == {"tanh", "batchnorm"}
    for report in results.values():
        assert report.verdict is ge.Verdict.EXCELLENT
        assert all(row.verdict is ge.Verdict.EXCELLENT for row in report.per_parameter.values())
    assert set(results["batchnorm"].per_parameter) == {"x", "gamma", "beta"}


def test_the_unfilled_template_fails():
    results = _run({})
    assert all(r.verdict is ge.Verdict.WRONG for r in results.values())


@pytest.mark.parametrize("name", list(WRONG_SOLUTIONS))
def test_a_wrong_solution_is_not_passed(name):
    part, source, at_fault = WRONG_SOLUTIONS[name]
    key = {"tanh": "tanh_backward", "batchnorm": "batchnorm_backward"}[part]
    results = _run({**SOLUTIONS, key: source})
    report = results[part]
    assert not report.passed, f"{name}: graded {report.verdict.name}\n{report}"
    failing = {row.name for row in report.per_parameter.values() if not row.verdict.passed}
    assert failing == at_fault, (name, failing)
    # the other part, still the reference solution, is unaffected
    other = results["batchnorm" if part == "tanh" else "tanh"]
    assert other.verdict is ge.Verdict.EXCELLENT

