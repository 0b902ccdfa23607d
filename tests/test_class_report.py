"""The class report: counts from graded submissions with known mistakes, and the page as a browser
shows it (headless Chromium: the figures and the table rendered, nothing fetched)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gradcheck_edu.class_report import (
    anonymise,
    feedback_examples,
    grade_rows,
    read_grades,
    summarize,
)
from gradcheck_edu.cli import main
from gradcheck_edu.grading import grade_layer

OK = {"verdict": "EXCELLENT", "kind": None}


def _row(points, kind=None, verdict="WRONG", top=1.0):
    return {"points": points, "max": top, "verdict": "EXCELLENT" if points >= top else verdict,
            "kind": kind}


def _affine(x, w, b, feedback):
    rows = {"x": x, "W": w, "b": b}
    return {"points": sum(r["points"] for r in rows.values()), "max": 3.0, "feedback": feedback,
            "rows": rows}


def _relu(points):
    return {"points": points, "max": 2.0, "feedback": "ReLU: right" if points == 2 else
            "ReLU: WRONG", "rows": {"x": _row(points, "zero", top=2.0)}}


# six graded submissions with known mistakes, one line without rows, one that was not graded
SUBMISSIONS = [
    ("alice", _affine(_row(1), _row(1), _row(1), "Affine: 3 / 3"), _relu(2)),
    ("bob", _affine(_row(1), _row(0, "scale"), _row(1),
                    "submitted as bob.ipynb (student bob): grads['W']: WRONG: your gradient is "
                    "0.25 x the right one: a factor that is the batch size (N = 4)?"), _relu(2)),
    ("carol", _affine(_row(1), _row(0, "scale"), _row(0, "zero"),
                      "grads['W']: WRONG, a factor; grads['b']: the loss does not depend on b"),
     _relu(0)),
    ("dave", _affine(_row(0, "raised"), _row(0, "raised"), _row(0, "raised"),
                     "your layer raised NameError: name 'np' is not defined: the first cell "
                     "failed with ModuleNotFoundError"), _relu(0)),
    ("erin", _affine(_row(0, "transpose"), _row(1), _row(1), "dx: WRONG, transposed"), _relu(2)),
    ("frank", _affine(_row(1), _row(0, "sign"), _row(0, None), "W: a sign; b: off"), _relu(2)),
]


def _lines() -> list[dict]:
    out = []
    for name, affine, relu in SUBMISSIONS:
        questions = {"Affine": affine, "ReLU": relu}
        out.append({"submission": f"/home/staff/hw/{name}.ipynb", "student_id": name,
                    "assignment": "hw_layers", "total": affine["points"] + relu["points"],
                    "max": 5.0, "questions": questions, "protections": ["bwrap"]})
    # an older line: question points only
    out.append({"submission": "grace.ipynb", "total": 4.0, "max": 5.0,
                "questions": {"Affine": {"points": 2.0, "max": 3.0, "feedback": "partly"},
                              "ReLU": {"points": 2.0, "max": 2.0, "feedback": "right"}}})
    out.append({"submission": "notes.ipynb", "error": "not graded: not a student version"})
    return out


@pytest.fixture
def grades(tmp_path) -> Path:
    path = tmp_path / "grades.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in _lines()) + "\n\n")
    return path


def test_summary_counts_the_known_mistakes(grades):
    summary = summarize(read_grades(grades))
    assert set(summary) == {"assignment", "submissions", "questions"}
    assert summary["assignment"] == "hw_layers" and summary["submissions"] == 7
    affine = summary["questions"]["Affine"]
    assert set(affine) == {"mean", "max", "rows"} and affine["max"] == 3.0
    assert affine["mean"] == pytest.approx((3 + 2 + 1 + 0 + 2 + 1 + 2) / 7)
    assert affine["rows"] == {
        "x": {"passed": 4, "kinds": {"raised": 1, "transpose": 1}},
        "W": {"passed": 2, "kinds": {"scale": 2, "raised": 1, "sign": 1}},
        "b": {"passed": 3, "kinds": {"zero": 1, "raised": 1, "unknown": 1}},
    }
    relu = summary["questions"]["ReLU"]
    assert relu["rows"] == {"x": {"passed": 4, "kinds": {"zero": 2}}}
    assert relu["mean"] == pytest.approx(10 / 7)  # grace (no rows) counts by points


def test_examples_are_anonymised(grades):
    examples = feedback_examples(read_grades(grades))
    text = examples[("Affine", "W")]["scale"]
    assert "batch size" in text and "bob" not in text and ".ipynb" not in text
    assert "<student>" in text
    assert set(examples[("Affine", "b")]) == {"zero", "raised", "unknown"}
    assert "ModuleNotFoundError" in examples[("Affine", "x")]["raised"]
    assert anonymise("see /tmp/x/carol.ipynb", {"submission": "bob.ipynb"}) == "see <notebook>"


def test_two_assignments_need_a_choice(tmp_path):
    path = tmp_path / "two.jsonl"
    lines = _lines()[:2]
    lines[1] = {**lines[1], "assignment": "01_theta_cubed"}
    path.write_text("\n".join(map(json.dumps, lines)))
    with pytest.raises(ValueError, match="--assignment"):
        summarize(read_grades(path))
    assert summarize(read_grades(path), "01_theta_cubed")["submissions"] == 1
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match="line 1: not JSON"):
        read_grades(path)


def test_cli_writes_the_page_and_the_summary(grades, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["assignments", "report", str(grades), "--out", str(out)]) == 0
    assert "index.html" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json.dumps(summarize(read_grades(grades))))
    page = (out / "index.html").read_text()
    assert not re.search(r"https?://", page)  # nothing to fetch: the figures are data: URIs
    assert "default-src 'none'" in page
    assert page.count('src="data:image/png;base64,') == 4  # 2 questions x (scores, rows)
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace"):
        assert name not in page
    assert main(["assignments", "report", str(tmp_path / "missing.jsonl"), "--out",
                 str(out)]) == 2


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-extensions",
                           "--disable-background-networking", "--disable-sync",
                           "--disable-component-update", "--disable-default-apps", *args],
                          capture_output=True, text=True, timeout=120)


def _page_requests(netlog: Path) -> list[str]:
    """The URLs of the requests a page started (not the browser itself), from a net log."""
    text = netlog.read_text().rstrip()
    log = json.loads(text if text.endswith("}") else text.rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    jobs = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    return [p["url"] for p in jobs if "url" in p and p.get("initiator") != "not an origin"
            and not p["url"].startswith(("file:", "data:"))]


def test_the_page_in_headless_chromium(grades, tmp_path):
    if _chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install the Debian package "
                        "chromium")
        pytest.skip("chromium is not installed (Debian package chromium); CI installs it")
    out = tmp_path / "report"
    assert main(["assignments", "report", str(grades), "--out", str(out)]) == 0
    url = (out / "index.html").resolve().as_uri()
    netlog = tmp_path / "net.json"
    dom = _run_chromium("--virtual-time-budget=5000", f"--log-net-log={netlog}",
                        "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<img") == 4 and html.count("data:image/png;base64,") == 4
    assert html.count("<table") == 2 and html.count("<tr>") == 11  # 2 headers, 9 (row, kind)
    assert "<td>scale</td>" in html and "<td>transpose</td>" in html
    assert "batch size" in html
    # the page asked for nothing: every http(s) request in the net log is the browser's own
    # (update checks, "not an origin"), and the same reader finds a page's request (a control)
    assert _page_requests(netlog) == []
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    _run_chromium("--virtual-time-budget=3000", f"--log-net-log={tmp_path / 'control.json'}",
                  "--dump-dom", control.as_uri())
    assert _page_requests(tmp_path / "control.json") == ["http://127.0.0.1:9/x.png"]
    # the figures are drawn: the screenshot holds the bars' colours (matplotlib's tab:blue
    # for the score histograms, tab:green for the rows that passed), not broken-image icons
    shot = tmp_path / "page.png"
    run = _run_chromium("--virtual-time-budget=5000", "--window-size=1200,4000",
                        "--hide-scrollbars", f"--screenshot={shot}", url)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    import matplotlib.image as mpimg
    import numpy as np

    rgb = (mpimg.imread(shot)[..., :3] * 255).astype(int)
    for colour in ((31, 119, 180), (44, 160, 44)):
        near = np.all(np.abs(rgb - np.array(colour)) <= 12, axis=-1)
        assert near.sum() > 2000, (colour, int(near.sum()))


class Planted:
    """out = x @ W + b with one planted mistake, graded by grade_layer like a submission."""

    def __init__(self, mistake=""):
        rng = np.random.default_rng(1)
        self.params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
        self.grads = {"W": np.zeros((4, 3)), "b": np.zeros(3)}
        self.mistake = mistake

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + (0 if self.mistake == "no b" else self.params["b"])

    def backward(self, dout):
        dW = self.x.T @ dout * (-1 if self.mistake == "sign" else 1)
        if self.mistake == "+=":
            self.grads["W"] += dW
        else:
            self.grads["W"][...] = dW
        self.grads["b"] = dout.sum(axis=0) / (len(dout) if self.mistake == "1/N" else 1)
        dx = dout @ self.params["W"].T
        return dx.T if self.mistake == "dx.T" else dx


def test_graded_layers_make_the_counts(tmp_path):
    """Submissions graded by grade_layer, with known mistakes: the report counts them by kind."""
    x = np.random.default_rng(2).standard_normal((4, 4))
    mistakes = ["", "", "sign", "+=", "no b", "1/N", "1/N", "dx.T"]
    lines = []
    for i, mistake in enumerate(mistakes):
        grade = grade_layer(Planted(mistake), x, points={"x": 1, "W": 2, "b": 1}, name="Affine")
        lines.append({"submission": f"student{i}.ipynb", "total": grade.score, "max": 4.0,
                      "questions": {"Affine": {"points": grade.score, "max": grade.max_score,
                                               "feedback": str(grade),
                                               "rows": grade_rows(grade)}}})
    path = tmp_path / "graded.jsonl"
    path.write_text("\n".join(map(json.dumps, lines)))
    summary = summarize(read_grades(path))
    assert summary["submissions"] == 8
    assert summary["questions"]["Affine"]["rows"] == {
        "x": {"passed": 7, "kinds": {"transpose": 1}},  # x is square: dx.T fits
        "W": {"passed": 6, "kinds": {"sign": 1, "accumulates": 1}},
        "b": {"passed": 5, "kinds": {"zero": 1, "scale": 2}},
    }
    examples = feedback_examples(read_grades(path))
    assert "Does forward add b?" in examples[("Affine", "b")]["zero"]
    assert "batch size (N = 4)" in examples[("Affine", "b")]["scale"]
    assert "student" not in repr(examples)
