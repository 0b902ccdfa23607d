"""What the class got wrong: a report built from the JSON lines of ``assignments grade --json``.

``gradcheck-edu assignments report GRADES.jsonl --out DIR`` writes

* ``DIR/summary.json``: ``{"assignment", "submissions", "questions": {q: {"mean", "max",
  "rows": {row: {"passed": n, "kinds": {kind: n}}}}}}``, where ``passed`` counts the submissions
  that earned the row's points and ``kinds`` counts the others by the kind of their mistake (the
  checker's pattern: ``scale``, ``sign``, ``transpose``, ``zero``, ``regularization``,
  ``subset``, ``unknown``; or what stopped the row: ``shape``, ``raised``, ``timeout``,
  ``not answered``);
* ``DIR/index.html``: a page with no external resource (the figures are PNGs inside it as
  ``data:`` URIs, and a Content-Security-Policy forbids fetching anything): per question the score
  distribution, per row the share that passed and the kinds of mistakes, and for each kind one
  example of the feedback it got, anonymised (no submission's file name or student id).

Each input line is one graded submission: ``{"submission", "total", "max", "questions": {q:
{"points", "max", "feedback", "rows": {row: {"points", "max", "verdict", "kind"}}}}}``. A line
without ``rows`` counts in its questions' points only; a line with ``error`` (not graded) is
counted apart. The mean of a question is over the graded submissions: its points summed, divided
by their number.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["read_grades", "summarize", "feedback_examples", "anonymise", "write_report",
           "grade_rows", "UNKNOWN_KIND"]

UNKNOWN_KIND = "unknown"
_EXAMPLE_CHARS = 400
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def grade_rows(grade: Any) -> dict[str, dict[str, Any]]:
    """The ``rows`` of a question in the JSON lines, from a
    :class:`~gradcheck_edu.grading.Grade`: ``{row: {"points", "max", "verdict", "kind"}}``
    (``verdict`` the verdict's name or None, ``kind`` :attr:`RowGrade.kind`)."""
    return {name: {"points": r.score, "max": r.max_score,
                   "verdict": None if r.verdict is None else r.verdict.name, "kind": r.kind}
            for name, r in grade.rows.items()}


def read_grades(path: str | Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, one per non-blank line.

    Raises ``ValueError`` naming the line that is not a JSON object.
    """
    out = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {number}: not JSON ({err.msg}); give the output of "
                             "'gradcheck-edu assignments grade ... --json'") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path}, line {number}: a JSON {type(obj).__name__}, not an object "
                             "with 'questions'")
        out.append(obj)
    return out


def _graded(lines: Iterable[dict], assignment: str | None) -> list[dict]:
    kept = [g for g in lines if isinstance(g.get("questions"), dict) and "error" not in g]
    names = {g.get("assignment") for g in kept if g.get("assignment")}
    if assignment is not None:
        return [g for g in kept if g.get("assignment") in (assignment, None)]
    if len(names) > 1:
        raise ValueError(f"the lines grade {len(names)} assignments ({', '.join(sorted(names))}); "
                         "choose one with --assignment")
    return kept


def _number(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if x == x else 0.0  # NaN counts as 0


def _row_passed(row: dict) -> bool:
    top = _number(row.get("max"))
    return top > 0 and _number(row.get("points")) >= top - 1e-9


def _kind(row: dict) -> str:
    kind = row.get("kind")
    return kind if isinstance(kind, str) and kind else UNKNOWN_KIND


def summarize(lines: Iterable[dict], assignment: str | None = None) -> dict[str, Any]:
    """The summary (the schema of ``summary.json``) of graded submissions' JSON objects.

    ``assignment`` keeps the lines of that assignment (lines that name none are kept); without
    it, lines naming two assignments are an error. The summary's ``assignment`` is the name the
    lines carry, else ``assignment``, else None.
    """
    graded = _graded(lines, assignment)
    named = next((g["assignment"] for g in graded if g.get("assignment")), assignment)
    questions: dict[str, dict[str, Any]] = {}
    for g in graded:
        for q, result in g["questions"].items():
            result = result if isinstance(result, dict) else {}
            entry = questions.setdefault(q, {"points": [], "max": 0.0, "rows": {}})
            entry["points"].append(_number(result.get("points")))
            entry["max"] = max(entry["max"], _number(result.get("max")))
            rows = result.get("rows")
            for r, row in (rows.items() if isinstance(rows, dict) else ()):
                row = row if isinstance(row, dict) else {}
                counts = entry["rows"].setdefault(r, {"passed": 0, "kinds": {}})
                if _row_passed(row):
                    counts["passed"] += 1
                else:
                    kind = _kind(row)
                    counts["kinds"][kind] = counts["kinds"].get(kind, 0) + 1
    return {"assignment": named, "submissions": len(graded),
            "questions": {q: {"mean": sum(e["points"]) / len(e["points"]), "max": e["max"],
                              "rows": e["rows"]} for q, e in questions.items()}}


def anonymise(text: str, grade: dict) -> str:
    """``text`` with the submission's name (path, file name, stem) and any student id replaced
    by ``<student>``, and any other notebook file name by ``<notebook>``."""
    words = set()
    for key in ("submission", "student_id", "student", "id", "name"):
        value = grade.get(key)
        if isinstance(value, str) and value.strip():
            p = Path(value)
            words |= {value, p.name, p.stem}
    for word in sorted((w for w in words if len(w) >= 2), key=len, reverse=True):
        text = text.replace(word, "<student>")
    return re.sub(r"[\w./\\-]+\.ipynb", "<notebook>", text)


def feedback_examples(lines: Iterable[dict], assignment: str | None = None
                      ) -> dict[tuple[str, str], dict[str, str]]:
    """One anonymised feedback text per (question, row) and kind of mistake: the first seen.

    The text is the row's ``feedback`` when the line has one, else the question's, cut at
    400 characters.
    """
    out: dict[tuple[str, str], dict[str, str]] = {}
    for g in _graded(lines, assignment):
        for q, result in g["questions"].items():
            if not isinstance(result, dict) or not isinstance(result.get("rows"), dict):
                continue
            for r, row in result["rows"].items():
                row = row if isinstance(row, dict) else {}
                if _row_passed(row):
                    continue
                seen = out.setdefault((q, r), {})
                kind = _kind(row)
                text = row.get("feedback") or result.get("feedback") or ""
                if kind not in seen and isinstance(text, str) and text.strip():
                    text = anonymise(text.strip(), g)
                    seen[kind] = text if len(text) <= _EXAMPLE_CHARS else (
                        text[:_EXAMPLE_CHARS] + " ...")
    return out


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _question_html(q: str, entry: dict, points: list[float], examples: dict, submissions: int
                   ) -> str:
    from .plots.grades import plot_row_outcomes, plot_score_distribution

    e = html.escape
    parts = [f'<section><h2>{e(q)}</h2><p>mean {entry["mean"]:.3g} of {entry["max"]:g} points '
             f"over {submissions} submissions</p>",
             f'<img alt="score distribution of {e(q)}" src="'
             f'{_png(plot_score_distribution(points, entry["max"], title=q))}">']
    if not entry["rows"]:
        parts.append("<p>These lines carry no rows for this question: points only.</p>")
        return "\n".join(parts) + "</section>"
    parts.append(f'<img alt="row outcomes of {e(q)}" src="'
                 f'{_png(plot_row_outcomes(entry["rows"], title=q))}">')
    parts.append("<table><thead><tr><th>row</th><th>passed</th><th>kind of mistake</th>"
                 "<th>count</th><th>example of the feedback it got</th></tr></thead><tbody>")
    for r, counts in entry["rows"].items():
        share = counts["passed"] / max(counts["passed"] + sum(counts["kinds"].values()), 1)
        kinds = sorted(counts["kinds"].items(), key=lambda kv: -kv[1]) or [("-", 0)]
        for i, (kind, n) in enumerate(kinds):
            head = (f'<td rowspan="{len(kinds)}">{e(r)}</td><td rowspan="{len(kinds)}">'
                    f'{counts["passed"]} ({share:.0%})</td>') if i == 0 else ""
            example = examples.get((q, r), {}).get(kind, "")
            parts.append(f"<tr>{head}<td>{e(kind)}</td><td>{n if n else ''}</td>"
                         f"<td>{e(example)}</td></tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts) + "</section>"


def write_report(grades: str | Path, out: str | Path, assignment: str | None = None
                 ) -> dict[str, Path]:
    """Read the JSON lines ``grades``, write ``out/summary.json`` and ``out/index.html``.

    Returns
    -------
    dict
        ``{"summary": path, "index": path}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    lines = read_grades(grades)
    summary = summarize(lines, assignment)
    if not summary["submissions"]:
        raise ValueError(f"{grades}: no graded submission in it (lines with 'questions' and no "
                         "'error')")
    examples = feedback_examples(lines, assignment)
    graded = _graded(lines, assignment)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    not_graded = sum(1 for g in lines if "error" in g)
    title = html.escape(f"What the class got wrong: {summary['assignment'] or Path(grades).stem}")
    body = [f"<h1>{title}</h1>",
            f"<p>{summary['submissions']} submissions graded"
            + (f", {not_graded} not graded" if not_graded else "") + ".</p>"]
    for q, entry in summary["questions"].items():
        points = [_number(g["questions"][q].get("points")) for g in graded
                  if isinstance(g["questions"].get(q), dict)]
        body.append(_question_html(q, entry, points, examples, summary["submissions"]))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            f"<title>{title}</title>\n<style>body{{font-family:sans-serif;max-width:70em;"
            "margin:auto}} table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid "
            "#bbb;padding:.3em .5em;vertical-align:top} img{max-width:100%}</style></head>\n"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
    (out / "index.html").write_text(page)
    return {"summary": out / "summary.json", "index": out / "index.html"}
