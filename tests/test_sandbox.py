"""The sandbox engine (gradcheck_edu.sandbox): data across the wire, remote objects, mirrors,
limits, and each attack a submission can make at the engine level.

Student code runs in bubblewrap here; CI installs it (.ci/run). Limits are short so the suite
stays fast.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

from gradcheck_edu.sandbox import (
    CellStatus,
    Isolation,
    Limits,
    Remote,
    Sandbox,
    StudentCodeError,
    bwrap_status,
)

FAST = Limits(cell_seconds=3, call_seconds=2, submission_seconds=40, memory_mb=1024)


def notebook(tmp_path: Path, *cells: str, name: str = "sub.ipynb") -> Path:
    """A notebook file whose code cells are ``cells``."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
                     "execution_count": None} for src in cells]}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module", autouse=True)
def _bwrap_works():
    ok, why = bwrap_status()
    assert ok, f"these tests need bubblewrap (apt-get install bubblewrap): {why}"


AFFINE = """
import numpy as np
class Affine:
    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((n_in, n_out)), "b": rng.standard_normal(n_out)}
        self.grads = {"W": np.zeros((n_in, n_out)), "b": np.zeros(n_out)}
    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]
    def backward(self, dout):
        self.grads["W"] = self.x.T @ dout
        self.grads["b"] += dout.sum(axis=0)
        return dout @ self.params["W"].T
"""


@pytest.mark.parametrize("isolation", [Isolation.BWRAP, Isolation.NONE])
def test_a_remote_layer_works_like_the_real_one(tmp_path, isolation):
    ns: dict = {}
    exec(AFFINE, ns)
    real = ns["Affine"](4, 3)
    x = np.random.default_rng(1).standard_normal((5, 4))
    dout = np.random.default_rng(2).standard_normal((5, 3))
    with Sandbox(notebook(tmp_path, AFFINE), limits=FAST, isolation=isolation) as sb:
        assert [r.status for r in sb.run_cells()] == [CellStatus.OK]
        Affine = sb.get("Affine")
        assert isinstance(Affine, Remote)
        layer = Affine(4, 3)
        assert type(layer).__name__ == "Affine"
        np.testing.assert_array_equal(layer.forward(x), real.forward(x))
        # the mirror: perturbed in place here, seen by forward there
        W = layer.params["W"]
        W[0, 0] += 1.0
        real.params["W"][0, 0] += 1.0
        np.testing.assert_array_equal(layer.forward(x), real.forward(x))
        # and back: backward's gradients land in the same dict objects, in place
        grads = layer.grads
        gW = grads["W"]
        np.testing.assert_array_equal(layer.backward(dout), real.backward(dout))
        assert layer.grads is grads and layer.params["W"] is W
        np.testing.assert_array_equal(grads["W"], real.grads["W"])
        np.testing.assert_array_equal(grads["b"], real.grads["b"])  # += in place
        assert gW is not None
        twin = copy.deepcopy(layer)
        twin.params["W"][:] = 0
        twin.forward(x)
        np.testing.assert_array_equal(layer.forward(x), real.forward(x))


def test_data_crosses_the_wire_as_data(tmp_path):
    values = {"none": None, "bools": [True, False], "int": 2**70, "float": -0.0,
              "nan": float("nan"), "inf": float("-inf"), "str": "héllo\n", "complex": 1 - 2j,
              "tuple": (1, (2.5, "x")), "set": {1, 2}, "bytes": b"\x00\xff",
              "f32": np.arange(6, dtype=np.float32).reshape(2, 3), "i8": np.int8(-3),
              "bool_arr": np.array([True, False]), "c128": np.array([1j, 2]),
              "empty": np.zeros((0, 3)), "fortran": np.asfortranarray(np.ones((2, 3))),
              "nested": {"a": [np.ones(2), {"b": np.float64(1.5)}]}, "ellipsis": ...,
              "slice": slice(1, None, 2)}
    src = """
import collections, enum, numpy as np
def echo(v):
    return v
def subclasses():
    Point = collections.namedtuple("Point", "x y")
    return [Point(1.0, 2.0), collections.OrderedDict(a=1), enum.IntEnum("E", "a b c").c,
            np.matrix([[1.0, 2.0]])]
"""
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        echo = sb.get("echo")
        for key, value in values.items():
            back = echo(value)
            assert type(back) is type(value), key
            if isinstance(value, np.ndarray):
                assert back.dtype == value.dtype and back.shape == value.shape
                np.testing.assert_array_equal(back, value)
            elif key == "nan":
                assert back != back
            elif key == "float":
                assert back == 0.0 and np.signbit(back)
            elif key == "nested":
                np.testing.assert_array_equal(back["a"][0], value["a"][0])
                assert type(back["a"][1]["b"]) is np.float64 and back["a"][1]["b"] == 1.5
            else:
                assert back == value, key
        # subclasses of built-in types and of ndarray come back as their plain base
        with pytest.warns(PendingDeprecationWarning, match="matrix"):  # np.matrix's, there
            plain = sb.get("subclasses")()
        assert plain[:3] == [(1.0, 2.0), {"a": 1}, 3]
        assert [type(v) for v in plain] == [tuple, dict, int, np.ndarray]
        assert plain[3].tolist() == [[1.0, 2.0]]
        # library functions go by reference; anything else of the grader's is refused
        assert sb.get("echo")(np.sum) is not None
        with pytest.raises(TypeError, match="cannot send a function"):
            echo(lambda t: t)


def test_protocol_refuses_what_is_not_data():
    from gradcheck_edu.sandbox import protocol

    blobs: list[bytes] = []
    with pytest.raises(TypeError):
        protocol.encode(np.array([object()], dtype=object), blobs)
    with pytest.raises(TypeError):
        protocol.encode(type("D", (dict,), {})(), blobs)  # a dict subclass is not data
    pickled = pickle.dumps(np.array([1, None], dtype=object))
    for dtype in ("|O", "O", "i4,O", "V8", "<f8"):  # objects, records; a size that lies
        with pytest.raises(protocol.ProtocolError):
            protocol.decode({"$": "nd", "i": 0, "dtype": dtype, "shape": [3]}, [pickled])
    ok = protocol.decode({"$": "nd", "i": 0, "dtype": ">i2", "shape": [2]}, [b"\x00\x01\x00\x02"])
    assert ok.tolist() == [1, 2] and ok.flags.writeable
    for tree in ({"$": "handle", "id": 1}, {"$": "ref", "name": "os:system"}, {"$": "nd", "i": 5},
                 {"no": "tag"}, [1, 2], {"$": "complex", "v": ["a", 1]}):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(tree, [])
    deep: object = 1
    for _ in range(200):
        deep = {"$": "list", "v": [deep]}
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(deep, [])
    with pytest.raises(protocol.ProtocolError):
        protocol.resolve_ref("os:system")
    assert protocol.ref_name(np.sum) == "numpy:sum" and protocol.ref_name(os.system) is None


def _processes_with(marker: str) -> list[str]:
    """Command lines of the machine's processes that contain ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def _descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                parent[int(p)] = int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1]
                                     .split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, grew = {pid}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in found} - found
        found |= more
        grew = bool(more)
    return found


REPO = Path(__file__).resolve().parents[1]

SNOOP = """
import os, glob
def attempt(f):
    try:
        return "READ " + str(f())[:60]
    except Exception as e:
        return "refused " + type(e).__name__
found = {}
for path in TARGETS:
    found[path] = attempt(lambda: open(path, "rb").read(100))
for path in GONE:
    found[f"exists {path}"] = os.path.exists(path)
pids = [p for p in os.listdir("/proc") if p.isdigit()]
found["cmdlines"] = [attempt(lambda: open(f"/proc/{p}/cmdline", "rb").read()) for p in pids]
found["environ"] = dict(os.environ)
"""


def test_a_submission_reads_nothing_outside_its_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GE_GRADER_SECRET", "s3cr3t-token")
    secret = tmp_path / "autograder" / "secret"
    secret.parent.mkdir()
    secret.write_text("s3cr3t")
    other = notebook(tmp_path, "answer = 42", name="other_student.ipynb")
    # the grading processes' own /proc entries, unless their pids are so small that the
    # sandbox's own processes (pids 1, 2, ... in its pid namespace) have them too: pytest started
    # by a container's init, or reparented to it (nohup), has parent pid 1
    ours = [f"/proc/{pid}/{what}" for pid, what in ((os.getpid(), "cmdline"),
                                                    (os.getppid(), "environ")) if pid > 16]
    targets = [str(secret), str(other), str(REPO / "README.md"),
               str(REPO / "assignments" / "hw_layers.ipynb"), str(REPO / "pyproject.toml"),
               "/etc/passwd", "/etc/shadow", "/root/.bashrc", *ours]
    gone = [str(REPO), str(tmp_path), str(secret.parent)]
    src = f"TARGETS = {targets!r}\nGONE = {gone!r}\n" + SNOOP
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        assert sb.run_cells()[0].ok, sb.run_cells()[0].message
        found = sb.get("found")
        own = sb.get("attempt")  # the submission itself is there: it may read its own notebook
        assert own is not None
    for path in targets:
        assert found[path].startswith("refused"), (path, found[path])
    for gone in (REPO, tmp_path, secret.parent):
        assert found[f"exists {gone}"] is False, gone
    text = json.dumps([found["cmdlines"], found["environ"]])
    assert "s3cr3t" not in text and "pytest" not in text and "GE_GRADER_SECRET" not in text
    assert len(found["cmdlines"]) <= 4  # only the sandbox's own processes are visible


def test_the_working_folder_holds_only_the_submission_and_the_install_is_read_only(tmp_path):
    pkg = REPO / "gradcheck_edu"
    before = sorted(p.name for p in pkg.iterdir())
    src = """
import os, numpy, gradcheck_edu
here = sorted(os.listdir("."))
tries = {}
for target in [gradcheck_edu.__file__, os.path.dirname(gradcheck_edu.__file__) + "/evil.py",
               numpy.__file__, os.path.dirname(numpy.__file__) + "/evil.py", "/usr/evil",
               "/opt/ge/gradcheck_edu/grading.py"]:
    try:
        with open(target, "a") as f:
            f.write("x = 1")
        tries[target] = "WROTE"
    except OSError as e:
        tries[target] = type(e).__name__
with open("mine.txt", "w") as f:   # its own folder is writable
    f.write("ok")
"""
    with Sandbox(notebook(tmp_path, src, name="alice.ipynb"), limits=FAST) as sb:
        assert sb.run_cells()[0].ok, sb.run_cells()[0].message
        assert sb.get("here") == ["alice.ipynb"]
        tries = sb.get("tries")
    assert tries and all(v != "WROTE" for v in tries.values()), tries
    assert sorted(p.name for p in pkg.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.ipynb"]  # nothing written here


def test_no_network(tmp_path):
    src = """
import socket
results = []
for host in [("1.1.1.1", 80), ("pypi.org", 443)]:
    try:
        socket.create_connection(host, timeout=2)
        results.append("CONNECTED")
    except OSError as e:
        results.append(type(e).__name__)
"""
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        assert sb.run_cells()[0].ok
        assert "CONNECTED" not in sb.get("results")


def test_nothing_it_starts_outlives_it(tmp_path):
    marker = "987654"
    src = f"""
import subprocess, os
p = subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
if os.fork() == 0:          # a double fork: the daemon's way out
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{marker}1"])
    os._exit(0)
"""
    sb = Sandbox(notebook(tmp_path, src), limits=FAST)
    with sb:
        assert sb.run_cells()[0].ok, sb.run_cells()[0].message
        deadline = time.monotonic() + 5
        while len(_processes_with(f"sleep {marker}")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_processes_with(f"sleep {marker}")) == 2  # both run while the sandbox does
        ours = _descendants(sb._child.proc.pid)  # bwrap, the runner, the first sleep
        assert len(ours) >= 3
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_with(f"sleep {marker}")
    assert not [pid for pid in ours if Path(f"/proc/{pid}").exists()]  # no runner either


HANGS = """
import time, os, sys
class Layer:
    def __init__(self):
        self.params, self.grads = {}, {}
    def forward(self, x):
        return 2 * x
    def spin(self):
        while True:
            pass
    def nap(self):
        time.sleep(900)
    def recurse(self, n=0):
        return self.recurse(n + 1)
    def segfault(self):
        import ctypes
        return ctypes.string_at(0)
    def leave(self):
        os._exit(3)
    def exit(self):
        raise SystemExit(0)
    def interrupt(self):
        raise KeyboardInterrupt
    def hog(self):
        import numpy as np
        return np.ones(10**10)
    def grow(self):
        import numpy as np
        chunks = []
        while True:  # 128 MB at a time (reserved, not touched: the limit is on reserving)
            chunks.append(np.empty(2**24))
"""


def test_each_failure_of_a_method_is_named_and_the_rest_still_works(tmp_path):
    cases = {  # method -> (status, words in the message)
        "spin": (CellStatus.TIMEOUT, "Layer.spin ran past the 2 s limit"),
        "nap": (CellStatus.TIMEOUT, "Layer.nap ran past the 2 s limit"),
        "recurse": (CellStatus.ERROR, "Layer.recurse raised RecursionError"),
        "segfault": (CellStatus.CRASHED, "crashed (SIGSEGV) while running Layer.segfault"),
        "leave": (CellStatus.CRASHED, "exited (exit code 3: os._exit?) while running "
                                      "Layer.leave"),
        "exit": (CellStatus.ERROR, "Layer.exit raised SystemExit: 0"),
        "interrupt": (CellStatus.ERROR, "Layer.interrupt raised KeyboardInterrupt"),
        "hog": (CellStatus.MEMORY, "Layer.hog ran out of memory (the limit is 1024 MB)"),
        "grow": (CellStatus.MEMORY, "Layer.grow ran out of memory"),
    }
    x = np.arange(3.0)
    with Sandbox(notebook(tmp_path, HANGS), limits=FAST) as sb:
        assert sb.run_cells()[0].ok
        Layer = sb.get("Layer")
        for method, (status, words) in cases.items():
            layer = Layer()
            np.testing.assert_array_equal(layer.forward(x), 2 * x)
            t0 = time.monotonic()
            with pytest.raises(StudentCodeError) as err:
                getattr(layer, method)()
            assert time.monotonic() - t0 < 10
            assert err.value.status is status, (method, err.value)
            assert words in str(err.value), (method, str(err.value))
            # the class is found again (in a fresh sandbox when that one was killed) ...
            np.testing.assert_array_equal(Layer().forward(x), 2 * x)
            if status in (CellStatus.TIMEOUT, CellStatus.CRASHED):
                # ... but an object of the killed process is gone, and says why
                with pytest.raises(StudentCodeError, match="lost when the sandbox was restarted"):
                    layer.forward(x)


def test_each_failure_of_a_cell_is_named_and_the_cells_after_it_run(tmp_path):
    cells = ["import time\nclass Affine:\n    pass\n",
             "class Spin:\n    pass\nwhile True:\n    pass\n",
             "class Nap:\n    pass\ntime.sleep(900)\n",
             "def f(n):\n    return f(n + 1)\nf(0)\n",
             "import os\nos._exit(4)\n",
             "raise SystemExit('bye')\n",
             "class Late:\n    pass\n",
             "import numpy as np\nbig = np.ones(10**10)\n",
             "1 / 0\n"]
    with Sandbox(notebook(tmp_path, *cells), limits=FAST) as sb:
        results = sb.run_cells()
        assert [r.status for r in results] == [
            CellStatus.OK, CellStatus.TIMEOUT, CellStatus.TIMEOUT, CellStatus.ERROR,
            CellStatus.CRASHED, CellStatus.ERROR, CellStatus.OK, CellStatus.MEMORY,
            CellStatus.ERROR]
        assert results[1].message == "the cell defining Spin ran past the 3 s limit"
        assert results[1].defines == ("Spin",)
        assert "the cell defining Nap ran past the 3 s limit" in results[2].message
        assert "the cell defining f raised RecursionError" in results[3].message
        assert "line 2, in f" in results[3].message  # the student's own lines, nothing else
        assert "exit code 4" in results[4].message
        assert "raised SystemExit: bye" in results[5].message
        assert "ZeroDivisionError: division by zero" in results[8].message
        assert "runner.py" not in "".join(r.message for r in results)
        assert isinstance(sb.get("Late"), Remote) and isinstance(sb.get("Affine"), Remote)
        with pytest.raises(StudentCodeError, match="Spin is not defined: the cell defining Spin "
                                                   "ran past the 3 s limit") as err:
            sb.get("Spin")
        assert err.value.status is CellStatus.TIMEOUT
        with pytest.raises(StudentCodeError, match="nothing is not defined in the notebook"):
            sb.get("nothing")


def test_past_the_submission_limit_everything_left_fails(tmp_path):
    cells = ["import time\ntime.sleep(1.0)\na = 1\n"] * 4
    limits = Limits(cell_seconds=3, call_seconds=2, submission_seconds=2.6)
    with Sandbox(notebook(tmp_path, *cells), limits=limits) as sb:
        t0 = time.monotonic()
        results = sb.run_cells()
        assert time.monotonic() - t0 < 5
        statuses = [r.status for r in results]
        assert statuses[0] is CellStatus.OK and statuses[-1] is CellStatus.TIMEOUT
        assert statuses == sorted(statuses, key=lambda s: s is CellStatus.TIMEOUT)  # OK first
        assert results[-1].message == ("the submission's code ran past its 2.6 s limit (at "
                                       "the cell defining a)")
        with pytest.raises(StudentCodeError, match="ran past its 2.6 s limit"):
            sb.get("a")


def test_an_object_that_would_run_code_when_unpickled_comes_back_as_a_handle(tmp_path):
    flag = tmp_path / "pwned"
    src = f"""
import os
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {flag}",))
def make():
    return Evil()
def wrapped():
    return {{"grade": Evil(), "list": [Evil()]}}
"""
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        evil = sb.get("make")()
        assert isinstance(evil, Remote) and type(evil).__name__ == "Evil"
        out = sb.get("wrapped")()
        assert isinstance(out["grade"], Remote) and isinstance(out["list"][0], Remote)
        copy.deepcopy(evil)  # a copy made in the sandbox, not here
        with pytest.raises(TypeError):
            pickle.dumps(evil)
    assert not flag.exists()


def test_garbage_on_the_channel_fails_that_call_and_the_next_one_works(tmp_path):
    src = """
import os, stat, struct, json
def pipes():
    found = []
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                found.append(fd)
        except OSError:
            pass
    return found
def junk():
    for fd in pipes():
        try:
            os.write(fd, b"garbage, not a frame" * 10)
        except OSError:
            pass
    return 1
def forged():   # a well-formed frame that answers a request nobody made
    head = json.dumps({"id": -5, "ok": True, "value": 36, "blobs": []}).encode()
    for fd in pipes():
        try:
            os.write(fd, b"GEsb" + struct.pack(">II", len(head), 0) + head)
        except OSError:
            pass
    return 0
def forged_value():   # the reply to this very request, forged, with a value that is no data
    import gc
    server = [o for o in gc.get_objects() if type(o).__name__ == "Server"][0]
    rid = server.last_id
    head = json.dumps({"id": rid, "ok": True, "value": {"$": "pickle", "v": "cos system"},
                       "pulled": {}, "blobs": []}).encode()
    os.write(server.fd_out, b"GEsb" + struct.pack(">II", len(head), 0) + head)
    return 0
def huge():     # a frame that claims to be enormous
    for fd in pipes():
        try:
            os.write(fd, b"GEsb" + struct.pack(">II", 2**31, 2**31))
        except OSError:
            pass
    return 0
def fine(*args):
    return 7
KEPT = []
def deaf():     # the runner now reads a pipe nobody writes: it never reads our requests again
    for fd in pipes():
        flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8)
        if flags & 3 == os.O_RDONLY:
            KEPT.append(os.dup(fd))  # the old end stays open: the grader's writes just wait
            r, w = os.pipe()
            os.dup2(r, fd)
    return 0
"""
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        assert sb.run_cells()[0].ok
        for name in ("junk", "forged", "forged_value", "huge"):
            with pytest.raises(StudentCodeError) as err:
                sb.get(name)()
            assert err.value.status is CellStatus.CRASHED, name
            assert "garbled" in str(err.value) or "not data" in str(err.value), (name, err.value)
            assert sb.get("fine")() == 7
        # a runner that stops reading: a large request cannot block the grader
        assert sb.get("deaf")() == 0
        t0 = time.monotonic()
        with pytest.raises(StudentCodeError, match="ran past the 2 s limit") as err:
            sb.get("fine")(np.zeros(2**21))
        assert err.value.status is CellStatus.TIMEOUT and time.monotonic() - t0 < 6
        assert sb.get("fine")() == 7


BUGGY = AFFINE.replace('return dout @ self.params["W"].T',
                       'return 2 * dout @ self.params["W"].T') + """
import warnings
class Noisy(Affine):
    def forward(self, x):
        warnings.warn("overflow, maybe", RuntimeWarning)
        print("forward called")
        return super().forward(x)
"""


def _same_grade(remote_grade, local_grade):
    assert remote_grade.name == local_grade.name
    assert remote_grade.note == local_grade.note
    assert list(remote_grade.rows) == list(local_grade.rows)
    for name, row in local_grade.rows.items():
        there = remote_grade.rows[name]
        assert (there.score, there.max_score, there.verdict) == (row.score, row.max_score,
                                                                 row.verdict), name
        assert (there.pattern is None) == (row.pattern is None), name
        if row.pattern is not None:
            assert there.pattern.kind == row.pattern.kind


def test_grade_layer_on_a_remote_layer_equals_grade_layer_on_the_real_one(tmp_path):
    from gradcheck_edu.grading import grade_layer

    assert "return 2 * dout" in BUGGY
    ns: dict = {}
    exec(BUGGY, ns)
    x = np.random.default_rng(3).standard_normal((6, 4))
    with Sandbox(notebook(tmp_path, BUGGY), limits=FAST) as sb:
        assert all(r.ok for r in sb.run_cells())
        for name in ("Affine", "Noisy"):
            there = grade_layer(sb.get(name)(4, 3), x, student_id="ada")
            here = grade_layer(ns[name](4, 3), x, student_id="ada")
            _same_grade(there, here)
            assert there.rows["x"].score == 0 and there.rows["W"].score > 0
            assert there.rows["x"].pattern.kind == "scale"
        # the warning raised there reaches the feedback here, as it would locally
        assert "RuntimeWarning: overflow, maybe" in there.note
        assert "forward called" in sb.student_output


@pytest.fixture(scope="module")
def hw_layers(tmp_path_factory):
    """The homework built as students and the grader get it."""
    from gradcheck_edu.assignments import build

    out = tmp_path_factory.mktemp("course")
    return build(out, [REPO / "assignments" / "hw_layers.ipynb"])["hw_layers"]


def _hw_inputs():
    rng = np.random.default_rng(5)
    return {"Affine": ((5, 3), rng.standard_normal((4, 5))),
            "ReLU": ((), rng.standard_normal((4, 5))),
            "Sigmoid": ((), rng.standard_normal((4, 5))),
            "SoftmaxCrossEntropy": ((np.array([0, 2, 1, 0]),), rng.standard_normal((4, 3))),
            "BatchNorm": ((5,), rng.standard_normal((4, 5))),
            "Dropout": ((0.7, (4, 5)), rng.standard_normal((4, 5))),
            "Conv2d": ((2, 3), rng.standard_normal((2, 2, 4, 4))),
            "MaxPool": ((), rng.standard_normal((2, 2, 4, 4)))}


@pytest.mark.course
@pytest.mark.parametrize("version", ["solution", "student"])
def test_the_homework_runs_in_the_sandbox_and_grades_as_it_does_locally(hw_layers, version):
    from gradcheck_edu.grading import grade_layer
    from gradcheck_edu.sandbox.cells import read_cells

    local: dict = {"grader": type("Stub", (), {"check": lambda self, q: None})()}
    for cell in read_cells(hw_layers[version]):  # trusted here: built from the course's source
        if "otter" not in cell.defines:
            exec(cell.source, local)
    total = 0.0
    with Sandbox(hw_layers[version], limits=Limits(cell_seconds=20, call_seconds=10)) as sb:
        results = sb.run_cells()
        assert all(r.ok for r in results), [r.message for r in results if not r.ok]
        for name, (args, x) in _hw_inputs().items():
            there = grade_layer(sb.get(name)(*args), x, student_id="bob")
            _same_grade(there, grade_layer(local[name](*args), x, student_id="bob"))
            total += there.score
    assert total == (8.0 if version == "solution" else 0.0)


def test_remote_objects_attributes_items_and_arguments(tmp_path):
    src = AFFINE + """
class Net:
    def __init__(self, layers):
        self.layers = list(layers)
        self.name = "net"
    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x
    def __len__(self):
        return len(self.layers)
    def __getitem__(self, i):
        return self.layers[i]
    def __iter__(self):
        return iter(self.layers)
    @property
    def broken(self):
        return 1 / 0
def apply(f, x):
    return f(x)
"""
    x = np.ones((2, 4))
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        Affine, Net = sb.get("Affine"), sb.get("Net")
        a, b = Affine(4, 3), Affine(3, 2, seed=1)
        net = Net([a, b])  # remote objects go back in by handle
        np.testing.assert_array_equal(net.forward(x), b.forward(a.forward(x)))
        # the mirrors of every object are kept in step, not only those of the one called
        first = net.layers[0]
        W, before = first.params["W"], net.forward(x)
        W[0, 0] += 1.0
        after = net.forward(x)  # a call on net sees the change made through its layer
        assert not np.array_equal(before, after)
        np.testing.assert_array_equal(after, b.forward(a.forward(x)))  # a is that layer
        a.params["W"][0, 0] -= 1.0  # and a second handle on the same object gets it back
        np.testing.assert_array_equal(net.forward(x), before)
        np.testing.assert_array_equal(first.params["W"], a.params["W"])
        assert first.params["W"] is W
        assert len(net) == 2 and type(net[0]).__name__ == "Affine"
        assert [type(layer).__name__ for layer in net] == ["Affine", "Affine"]
        assert net.name == "net"
        # a missing attribute is an AttributeError, as Python's getattr/hasattr expect
        assert getattr(net, "labels", None) is None and not hasattr(a, "y")
        with pytest.raises(AttributeError, match="no attribute 'labels'"):
            net.labels  # noqa: B018
        net.name = "renamed"
        assert net.name == "renamed"
        with pytest.raises(StudentCodeError, match="raised ZeroDivisionError"):
            net.broken  # noqa: B018  (an error inside a property stays the student's)
        assert sb.get("apply")(np.tanh, 0.5) == pytest.approx(np.tanh(0.5))  # by reference
        with pytest.raises(ValueError, match="another sandbox"):
            with Sandbox(notebook(tmp_path, src, name="other.ipynb"), limits=FAST) as other:
                other.get("apply")(a, x)
        assert "<remote Affine" in repr(a)


def test_output_and_disk_are_capped_and_nothing_is_left_behind(tmp_path):
    src = """
import sys
line = "x" * 2**20
def flood():
    for _ in range(200):   # 200 MB to stdout
        print(line)
def fill():
    written = 0
    try:
        for i in range(100):
            with open(f"f{i}", "wb") as f:
                f.write(b"0" * 2**22)
            written += 4
    except OSError as e:
        return written, type(e).__name__
    return written, None
print("hello from the student")
"""
    limits = Limits(cell_seconds=10, call_seconds=10, disk_mb=16, file_mb=8)
    with Sandbox(notebook(tmp_path, src), limits=limits) as sb:
        assert sb.run_cells()[0].ok
        with pytest.raises(StudentCodeError, match=r"flood\(...\) raised OSError"):
            sb.get("flood")()
        written, error = sb.get("fill")()
        assert written <= 16 and error == "OSError"
        out = sb.student_output
        assert out.startswith("hello from the student") and len(out) < 70_000
        log = sb._log
        assert os.path.exists(log)
    assert not os.path.exists(log)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.ipynb"]


def test_without_bubblewrap_it_refuses_unless_told_and_then_says_so(tmp_path, monkeypatch):
    from gradcheck_edu.sandbox import SandboxUnavailable, launch

    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    monkeypatch.setattr(launch.os, "access", lambda path, mode: False)
    ok, why = launch.bwrap_status.__wrapped__()
    assert not ok and "apt-get install bubblewrap" in why
    monkeypatch.setattr(launch, "bwrap_status", lambda: (False, why))
    path = notebook(tmp_path, "a = 1")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap.*unsafe"):
        Sandbox(path)
    with Sandbox(path, isolation=Isolation.NONE, limits=FAST) as sb:
        assert sb.get("a") == 1
        off = [p for p in sb.protections if p.endswith("OFF")]
        assert any("filesystem" in p for p in off) and any("network" in p for p in off)
        assert any("unsafe" in p for p in sb.protections)


def test_with_bubblewrap_every_protection_is_on(tmp_path):
    with Sandbox(notebook(tmp_path, "a = 1"), limits=FAST) as sb:
        assert sb.get("a") == 1
        assert all(p.endswith(": on") for p in sb.protections[:-1]), sb.protections
        assert sb.protections[-1] == "sandbox: bubblewrap"


def test_what_is_not_a_notebook_is_refused_before_anything_runs(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("import os; os.system('echo hi')")
    with pytest.raises(ValueError, match="bad.ipynb is not a notebook"):
        Sandbox(bad)
    with pytest.raises(ValueError):
        Limits(cell_seconds=0)


def test_values_that_cannot_cross_are_errors_not_crashes(tmp_path):
    src = r"""
import numpy as np, resource
def huge():                           # 256 MB and a bit (a view: no memory): past the cap
    return np.broadcast_to(np.float64(1), (2**25 + 8,))
def long_text():
    return "x" * (17 * 2**20)         # past the cap on a frame's JSON
def loop():
    a = []
    a.append(a)
    return a
def odd_text():
    return "\ud800 lone surrogate"
def odd_error():
    raise ValueError("\udcff in a message")
def nproc():
    return resource.getrlimit(resource.RLIMIT_NPROC)
"""
    with Sandbox(notebook(tmp_path, src), limits=FAST) as sb:
        with pytest.raises(StudentCodeError, match="too large"):
            sb.get("huge")()
        with pytest.raises(StudentCodeError, match="cannot be sent back.*too large"):
            sb.get("long_text")()
        with pytest.raises(StudentCodeError, match="nested deeper"):
            sb.get("loop")()
        text = sb.get("odd_text")()
        text.encode("utf-8")  # valid Unicode: it can be written to any report
        assert text.endswith("lone surrogate")
        with pytest.raises(StudentCodeError) as err:
            sb.get("odd_error")()
        str(err.value).encode("utf-8")
        assert tuple(sb.get("nproc")()) == (64, 64)


def test_the_sandbox_dies_with_the_grading_process_or_when_dropped(tmp_path):
    import subprocess
    import sys

    marker = "876543"
    path = notebook(tmp_path, f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'], "
                              "start_new_session=True)\n")
    grader = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from gradcheck_edu.sandbox import Sandbox
sb = Sandbox({str(path)!r})
sb.run_cells()
print("ready", flush=True)
time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert grader.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 5
        while not _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(f"sleep {marker}")
    finally:
        grader.kill()  # SIGKILL: no finally, no atexit in the grader
        grader.wait()
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_with(f"sleep {marker}")
    # a sandbox dropped without close() takes its processes with it too
    sb = Sandbox(path, limits=FAST)
    sb.run_cells()
    deadline = time.monotonic() + 5
    while not _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    log = sb._log
    del sb
    import gc

    gc.collect()
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_with(f"sleep {marker}") and not os.path.exists(log)


def test_a_cell_too_large_to_send_fails_alone(tmp_path):
    path = notebook(tmp_path, "a = 1", "x = '" + "y" * (5 * 2**20) + "'", "b = 2")
    with Sandbox(path, limits=FAST) as sb:
        results = sb.run_cells()
        assert [r.status for r in results] == [CellStatus.OK, CellStatus.ERROR, CellStatus.OK]
        assert "longer than 4 MB" in results[1].message
        assert sb.get("b") == 2


def test_an_older_bubblewrap_still_sandboxes_and_says_what_it_cannot_cap(tmp_path, monkeypatch):
    from gradcheck_edu.sandbox import launch

    # bubblewrap 0.4 (Ubuntu 20.04): no --disable-userns, --size or --perms
    monkeypatch.setattr(launch, "_options", lambda exe: frozenset({"--unshare-all"}))
    cmd = launch.command(Isolation.BWRAP, FAST, 5, "sub.ipynb", (3, 4))
    assert "--size" not in cmd and "--disable-userns" not in cmd and "--perms" not in cmd
    with Sandbox(notebook(tmp_path, "import os\nhere = os.listdir('.')"), limits=FAST) as sb:
        assert sb.get("here") == ["sub.ipynb"]
        assert "disk limit (256 MB, its folder and /tmp): OFF" in sb.protections


def test_notebook_syntax_and_otter_cells_run_harmlessly(tmp_path):
    path = notebook(tmp_path, "import otter\ngrader = otter.Notebook('sub.ipynb')",
                    "%matplotlib inline\n!pip install something\nimport numpy as np",
                    "%%time\nx = np.arange(3)\nif x.sum():\n    %time y = 2\n",
                    "grader.check('q1')\ngrader.check_all()\ngrader.export(pdf=False)",
                    "display(x)\nz = 1", "hidden = 1")
    nb = json.loads(path.read_text())
    nb["cells"][-1]["metadata"]["tags"] = ["otter_ignore"]
    path.write_text(json.dumps(nb))
    with Sandbox(path, limits=FAST) as sb:
        results = sb.run_cells()
        assert [r.ok for r in results] == [True] * 5, [r.message for r in results]
        assert sb.get("x").tolist() == [0, 1, 2] and sb.get("z") == 1
        assert "array([0, 1, 2])" in sb.student_output
        with pytest.raises(StudentCodeError, match="hidden is not defined in the notebook"):
            sb.get("hidden")


@pytest.mark.course
def test_the_sandbox_benchmark_runs(hw_layers):
    """benchmarks/bench_sandbox.py still runs (one round; no timing is asserted)."""
    import subprocess
    import sys

    course = hw_layers["solution"].parent.parent
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_sandbox.py"),
                          "--rounds", "1", "--course", str(course)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for row in ("sandbox start (bwrap, numpy, gradcheck_edu) and close", "one round trip",
                "grade_layer Conv2d: sandbox", "grade_layer, all 8 layers"):
        assert row in out.stdout, row
