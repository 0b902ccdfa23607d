"""The attack suite: submissions that try to forge, hang, crash or read past the grader.

Each attack is a submission built from the student version (its answer cells filled by code,
cells added before or after them), graded with the CLI in ONE folder beside honest
submissions, in one call (``--jobs 2``, short limits). Asserted: each gets the score it deserves
(0 for untouched answers, the honest score otherwise, or the honest score less exactly the
questions a crash touches), the honest submissions keep theirs, nothing is written outside the
grading folder, no process is left behind, and no feedback holds hidden test source.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from otter_sources import SOURCES, as_answer, solution_cells

from gradcheck_edu import assignments

pytestmark = pytest.mark.course  # builds the course with otter-grader ([course])

HW = next(p for p in SOURCES if p.stem == "hw_layers")
NB01 = next(p for p in SOURCES if p.stem == "01_theta_cubed")
TOKEN = f"GE_ATTACK_{uuid.uuid4().hex[:8]}"  # in every file an attack tries to leave behind
SLEEP = "4242.5"  # the detached process's argument, to find it if it survived
PACKAGE = Path(assignments.__file__).resolve().parent
CASE_LIMITS = ["--cell-timeout", "4", "--call-timeout", "4", "--timeout", "60"]

UNTOUCHED, SOLVED = "untouched", "solved"

# name -> (answers, cells before the answers, cells after them, expected: "zero", "full" or
# {question: points lost})
FORGE = {
    "require_noop": """import gradcheck_edu.feedback as fb, gradcheck_edu.grading as gr
fb.require = lambda *a, **k: None
gr.require_row = lambda *a, **k: None""",
    "grade_layer_replaced": """import gradcheck_edu.grading as gr
class G:
    score = max_score = 1.0
    rows = {}
gr.grade_layer = lambda *a, **k: G()""",
    "verdict_always_passed": """from gradcheck_edu.verdicts import Verdict
Verdict.passed = property(lambda self: True)""",
    "norm_returns_zero": """import numpy as np
np.linalg.norm = lambda *a, **k: 0.0""",
    "import_hook": """import builtins, types
_real = builtins.__import__
def _hook(name, *a, **k):
    m = _real(name, *a, **k)
    if name.startswith('gradcheck_edu'):
        for attr in ('require', 'require_row', 'require_layer_row'):
            if hasattr(m, attr):
                setattr(m, attr, lambda *a, **k: None)
    return m
builtins.__import__ = _hook""",
    "fake_modules": """import sys, types
for name in ('gradcheck_edu.feedback', 'gradcheck_edu.grading', 'gradcheck_edu.autograde.layers'):
    fake = types.ModuleType(name)
    fake.__getattr__ = lambda attr: (lambda *a, **k: None)
    sys.modules[name] = fake""",
    "otter_internals": """try:
    import otter.test_files.exception_test as et
    et.test_case.call_func = lambda self, env: None
    et.ExceptionTestFile.run = lambda self, env: None
except Exception:
    pass""",
    "pickle_patched": """import pickle
_dump = pickle.dump
pickle.dump = lambda obj, f, *a, **k: _dump({'score': 36, 'forged': True}, f)
pickle.dumps = lambda obj, *a, **k: b'forged'""",
    "tests_overwritten": """import os
os.makedirs('tests', exist_ok=True)
for q in ('q1_affine', 'q2_relu', 'q3_sigmoid', 'q4_softmax', 'q5_batchnorm', 'q6_dropout',
          'q7_conv', 'q8_maxpool'):
    with open(f'tests/{q}.py', 'w') as f:
        f.write('from otter.test_files import test_case\\nOK_FORMAT = False\\nname = %r\\n'
                'points = 7\\n@test_case(points=7)\\ndef t(env):\\n    pass\\n' % q)""",
    "chdir_forged_tests": """import os, tempfile
d = tempfile.mkdtemp()
os.makedirs(os.path.join(d, 'tests'))
open(os.path.join(d, 'tests', 'q1_affine.py'), 'w').write('name = "q1_affine"\\npoints = 7\\n')
os.chdir(d)""",
    "reduce_object": f"""import os
class Evil:
    def __reduce__(self):
        return (os.system, ('touch /tmp/{TOKEN}_reduce',))
evil = Evil()
class ReLU:
    def __init__(self):
        self.params, self.grads = {{}}, {{}}
    def forward(self, x):
        return Evil()
    def backward(self, dout):
        return Evil()""",
    "read_the_solution": """import glob, json, os, re
def _solution_cells():
    paths = []
    try:
        cmd = open(f'/proc/{os.getppid()}/cmdline', 'rb').read().split(b'\\0')
        paths += [p.decode() for p in cmd if p]
    except OSError:
        pass
    for root in paths + ['/work', '/tmp', '/root', os.path.expanduser('~')]:
        for nb in glob.glob(os.path.join(root, '**', 'hw_layers.ipynb'), recursive=True)[:50]:
            try:
                cells = json.load(open(nb))['cells']
            except Exception:
                continue
            code = [''.join(c['source']) for c in cells if c['cell_type'] == 'code']
            if any('return dout @ self.params["W"].T' in c for c in code):
                return code
    return []
for _c in _solution_cells():
    if not ('otter' in _c or 'grader.' in _c):
        try:
            exec(_c)
        except Exception:
            pass""",
    "write_into_the_package": f"""import os, gradcheck_edu, numpy
for pkg in (gradcheck_edu, numpy):
    d = os.path.dirname(pkg.__file__)
    for name in ('__init__.py', '{TOKEN}.py'):
        try:
            with open(os.path.join(d, name), 'a') as f:
                f.write('\\n# {TOKEN}\\n')
        except OSError:
            pass""",
}

SOLVED_ATTACKS = {
    # a detached process that would change the next submission's grade
    "detached_process": f"""import subprocess, os
subprocess.Popen(['sleep', '{SLEEP}'], start_new_session=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
subprocess.Popen(['sh', '-c', 'sleep 3; for f in ../*.ipynb /tmp/*/*.ipynb; do : > "$f"; done'],
                 start_new_session=True)""",
    # the other submissions of the folder: copy, then delete them
    "steal_and_delete": """import glob, os
for nb in glob.glob('../*.ipynb') + glob.glob('../../*/*.ipynb') + glob.glob('/tmp/**/*.ipynb',
                                                                             recursive=True):
    try:
        data = open(nb).read()
        os.remove(nb)
    except OSError:
        pass""",
    "while_true_at_top_level": "while True:\n    pass",
    "sleep_at_top_level": "import time\ntime.sleep(900)",
    "deep_recursion": ("import sys\nsys.setrecursionlimit(10**6)\n"
                       "def f(n):\n    return f(n + 1)\nf(0)"),
    "memory_blowup": "x = bytearray(64 * 2**30)",
    "writes_home": f"import os\nopen(os.path.expanduser('~/../{TOKEN}_home'), 'w').write('x')",
}


def _replace(answers: list[str], cls: str, method: str, body: str) -> list[str]:
    """The answers with ``cls.method``'s body replaced by ``body`` (one line)."""
    out = []
    for a in answers:
        if a.startswith(f"class {cls}"):
            head, rest = a.split(f"    def {method}(", 1)
            sig, tail = rest.split("\n", 1)
            lines = tail.split("\n")
            keep = next((i for i, ln in enumerate(lines) if ln.startswith("    def ")), len(lines))
            a = head + f"    def {method}(" + sig + "\n        " + body + "\n" + "\n".join(
                lines[keep:])
        out.append(a)
    return out


def _constant_answers(answers: list[str]) -> list[str]:
    """forward returns zeros of the output's shape, backward zeros, every grads entry zero."""
    out = []
    for a in answers:
        a = a.replace("    def backward(self, dout):", "    def backward(self, dout):\n"
                      "        for k in self.grads:\n"
                      "            self.grads[k] = self.grads[k] * 0\n"
                      "        return np.zeros_like(self._x)\n    def _unused(self, dout):")
        a = a.replace("    def forward(self, x):", "    def forward(self, x):\n"
                      "        self._x = x\n        return self._forward(x) * 0\n"
                      "    def _forward(self, x):")
        out.append(a)
    return out


def _lookup_answers(answers: list[str]) -> list[str]:
    """Right only on the inputs the notebook shows (a table of them), zeros elsewhere."""
    out = []
    for a in answers:
        a = a.replace("    def forward(self, x):", "    def forward(self, x):\n"
                      "        self._x = x\n"
                      "        if not _shown(x):\n            return np.zeros(1)\n"
                      "        return self._forward(x)\n    def _forward(self, x):")
        a = a.replace("    def backward(self, dout):", "    def backward(self, dout):\n"
                      "        if not _shown(self._x):\n            return np.zeros_like(self._x)\n"
                      "        return self._backward(dout)\n    def _backward(self, dout):")
        out.append(a)
    return out


LOOKUP_TABLE = """import numpy as np
_TABLE = [np.random.default_rng(s).standard_normal(shape) for s, shape in
          [(11, (4, 5)), (12, (4, 6)), (13, (4, 6)), (14, (5, 3)), (16, (5, 4)),
           (17, (2, 2, 4, 4))]]
_TABLE += [np.random.default_rng(15).normal(2.0, 3.0, size=(8, 4)),
           np.random.default_rng(18).permutation(64).reshape(2, 2, 4, 4) * 0.1 - 3.2]
def _shown(x):
    return any(np.shape(x) == t.shape and np.allclose(x, t) for t in _TABLE)"""

HONEST = 36.0
Q = {"q1_affine": 7, "q2_relu": 3, "q3_sigmoid": 3, "q4_softmax": 3, "q5_batchnorm": 7,
     "q6_dropout": 3, "q7_conv": 7, "q8_maxpool": 3}


def _write(folder: Path, student: Path, name: str, answers: list[str] | None,
           before: list[str] = (), after: list[str] = ()) -> Path:
    nb = json.loads(student.read_text())
    cells = nb["cells"]
    if answers is not None:
        slots = [c for c in cells if "otter_answer_cell" in c["metadata"].get("tags", [])]
        assert len(slots) == len(answers)
        for cell, answer in zip(slots, answers):
            cell["source"] = answer
    first = next(i for i, c in enumerate(cells)
                 if "otter_answer_cell" in c["metadata"].get("tags", []))

    def code(src: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
                "execution_count": None}

    nb["cells"] = (cells[:first] + [code(s) for s in before] + cells[first:]
                   + [code(s) for s in after])
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _sleepers() -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if SLEEP.encode() in cmd:
                found.append(int(d.name))
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Build the course once; write every attack into one folder; grade it with one CLI call."""
    out = tmp_path_factory.mktemp("course")
    built = assignments.build(out, [HW, NB01])
    student = built["hw_layers"]["student"]
    solved = [as_answer(s) for s in solution_cells(HW)]
    folder = tmp_path_factory.mktemp("class")
    expected: dict[str, float] = {}
    for name, cell in FORGE.items():
        _write(folder, student, name, None, after=[cell])
        expected[name] = 0.0
    for name, cell in SOLVED_ATTACKS.items():
        _write(folder, student, name, solved, after=[cell])
        expected[name] = HONEST
    for name in ("honest_a", "honest_z"):
        _write(folder, student, name, solved)
        expected[name] = HONEST
    _write(folder, student, "untouched", None)
    expected["untouched"] = 0.0
    _write(folder, student, "system_exit_in_forward",
           _replace(solved, "Affine", "forward", "raise SystemExit(3)"))
    expected["system_exit_in_forward"] = HONEST - Q["q1_affine"]
    _write(folder, student, "os_exit_in_backward",
           _replace(solved, "ReLU", "backward", "import os; os._exit(0)"))
    expected["os_exit_in_backward"] = HONEST - 2  # its forward keeps its point
    _write(folder, student, "keyboard_interrupt_in_backward",
           _replace(solved, "Dropout", "backward", "raise KeyboardInterrupt"))
    expected["keyboard_interrupt_in_backward"] = HONEST - 2
    _write(folder, student, "echo_the_caller", _replace(
        solved, "MaxPool", "forward", "import inspect; raise ValueError(repr([(f.filename, "
        "f.code_context) for f in inspect.stack()]) + repr(sorted(globals())))"))
    expected["echo_the_caller"] = HONEST - Q["q8_maxpool"]
    _write(folder, student, "hang_in_method",
           _replace(solved, "Sigmoid", "backward", "while True: pass"))
    expected["hang_in_method"] = HONEST - 2
    _write(folder, student, "constant_forward", _constant_answers(solved))
    expected["constant_forward"] = 0.0
    _write(folder, student, "lookup_table", _lookup_answers(solved), before=[LOOKUP_TABLE])
    expected["lookup_table"] = 0.0
    # notebook 01 the same way
    s01 = built["01_theta_cubed"]["student"]
    _write(folder, s01, "nb01_require_noop", None, after=[FORGE["require_noop"]])
    expected["nb01_require_noop"] = 0.0
    _write(folder, s01, "nb01_honest", [as_answer(s) for s in solution_cells(NB01)])
    expected["nb01_honest"] = 6.0

    numpy_init = Path(np.__file__).read_bytes()
    before = {"package": _tree_digest(PACKAGE), "autograder": _tree_digest(out),
              "numpy": numpy_init}
    sleepers = _sleepers()
    proc = subprocess.run([sys.executable, "-m", "gradcheck_edu", "assignments", "grade",
                           str(folder), "--autograder", str(out), "--json", "--jobs", "2",
                           "--csv", str(folder.parent / "gradebook.csv"), *CASE_LIMITS],
                          capture_output=True, text=True, timeout=900)
    results = {Path(r["submission"]).stem: r for r in map(json.loads, proc.stdout.splitlines())}
    return {"proc": proc, "results": results, "expected": expected, "folder": folder,
            "out": out, "before": before, "sleepers": sleepers,
            "after": {"package": _tree_digest(PACKAGE), "autograder": _tree_digest(out),
                      "numpy": Path(np.__file__).read_bytes()}}


def test_the_grading_command_succeeds_quietly(attacked):
    proc = attacked["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""
    assert sorted(attacked["results"]) == sorted(attacked["expected"])


def test_every_attack_gets_the_score_it_deserves(attacked):
    wrong = {name: (r.get("total"), attacked["expected"][name], r.get("error"))
             for name, r in attacked["results"].items()
             if r.get("total") != attacked["expected"][name]}
    assert not wrong


def test_failures_are_named_in_the_feedback(attacked):
    r = attacked["results"]
    fb = {name: json.dumps(r[name]["questions"]) for name in r}
    assert "SystemExit" in fb["system_exit_in_forward"]
    assert "limit" in fb["hang_in_method"] and "Sigmoid" in fb["hang_in_method"]
    rows = r["hang_in_method"]["questions"]["q3_sigmoid"]["rows"]
    assert rows["x"]["kind"] == "timeout" and rows["x"]["points"] == 0
    assert "exit" in fb["os_exit_in_backward"]
    assert "KeyboardInterrupt" in fb["keyboard_interrupt_in_backward"]
    for name in ("constant_forward", "lookup_table"):
        q1 = r[name]["questions"]["q1_affine"]
        assert q1["rows"]["forward"]["points"] == 0 and q1["rows"]["W"]["points"] == 0


def test_no_hidden_test_source_in_any_feedback(attacked):
    text = json.dumps(attacked["results"])
    for secret in ("def test_", "LayerSpec(", "require_layer_row", "grading_seed", "ref_Affine",
                   "reference.py"):
        assert secret not in text


def test_nothing_written_outside_the_grading_folder_and_no_process_left(attacked):
    assert attacked["after"] == attacked["before"]  # the package, the autograder folder
    assert not list(Path("/tmp").glob(f"{TOKEN}*"))
    assert not list(attacked["folder"].parent.glob(f"{TOKEN}*"))
    assert not list(Path(os.path.expanduser("~")).glob(f"{TOKEN}*"))
    for name in ("honest_a", "honest_z"):  # not deleted, not emptied
        assert (attacked["folder"] / f"{name}.ipynb").stat().st_size > 1000
    assert _sleepers() == attacked["sleepers"]


def test_every_result_names_its_protections_and_the_gradebook_has_every_row(attacked):
    for r in attacked["results"].values():
        assert r["protections"] and any("bubblewrap" in p for p in r["protections"])
    rows = (attacked["folder"].parent / "gradebook.csv").read_text().splitlines()
    assert len(rows) == 1 + len(attacked["expected"])
