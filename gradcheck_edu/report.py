"""The gradient-check report: per parameter, per component, as text and as HTML."""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from .verdicts import Verdict, classify_relative_error

__all__ = ["ComponentRow", "ParameterRow", "ComponentTable", "GradientCheckReport"]


@dataclass(frozen=True)
class ComponentRow:
    """One checked component: which parameter, where, and both values."""

    name: str
    index: tuple[int, ...]
    flat_index: int
    analytic: float
    numerical: float
    abs_error: float
    kink: bool = False


@dataclass(frozen=True)
class ParameterRow:
    """The check of one parameter (for a directional check: its random directions).

    ``pattern`` is None when the parameter passed (or was not sampled, or the check cannot
    tell); else the
    :class:`~gradcheck_edu.patterns.Pattern` of its mismatch: ``.kind``, ``.factor``,
    ``.where``, ``.support`` and a sentence, ``str(row.pattern)``.
    """

    name: str
    shape: tuple[int, ...]
    n_checked: int
    relative_error: float
    verdict: Verdict | None
    max_abs_error: float
    n_kinks: int = 0
    note: str = ""
    decided_by: str = "relative error"
    pattern: Any = None  # patterns.Pattern of the mismatch; None when the parameter passed
    n_subgradients: int = 0  # at a kink, analytic between the one-sided slopes: not measured

    @property
    def n_measured(self) -> int:
        """Components whose comparison says something: checked, less the valid subgradients
        at kinks (where nothing is measured)."""
        return self.n_checked - self.n_subgradients

    @property
    def passed(self) -> bool:
        """EXCELLENT or ACCEPTABLE; False when not checked (a sampled check missed it)."""
        return self.verdict is not None and self.verdict.passed

    def error_text(self) -> str:
        """The relative error as the table prints it (a zero gradient has none to speak of)."""
        if self.decided_by == "zero gradient":
            return "zero grad."
        return f"{self.relative_error:.2e}"


class ComponentTable:
    """Per-component results as arrays; :class:`ComponentRow` objects are built on demand.

    A full check of a model with a million weights keeps a few arrays of a million numbers,
    not a million row objects.
    """

    def __init__(self, names, shapes, leaf, flat, analytic, numerical, kink, flat_index=None,
                 offsets=None):
        self.names, self.shapes = list(names), list(shapes)
        self.leaf = np.asarray(leaf, dtype=np.int64)
        self.flat = np.asarray(flat, dtype=np.int64)
        self.analytic = np.asarray(analytic, dtype=np.float64)
        self.numerical = np.asarray(numerical, dtype=np.float64)
        self.kink = np.asarray(kink, dtype=bool)
        # position in theta: given (a sampled check, directions), or offset of the leaf + flat
        self._flat_index = None if flat_index is None else np.asarray(flat_index, np.int64)
        self._offsets = None if offsets is None else np.asarray(offsets, np.int64)

    def flat_index(self, pos: np.ndarray) -> np.ndarray:
        if self._flat_index is not None:
            return self._flat_index[pos]
        return self._offsets[self.leaf[pos]] + self.flat[pos]

    def __len__(self) -> int:
        return int(self.leaf.size)

    def abs_error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numerical)

    def rows(self, positions: Any = None) -> list[ComponentRow]:
        """The rows at ``positions`` (all of them by default), in that order."""
        pos = np.arange(len(self)) if positions is None else np.asarray(positions, np.int64)
        index: list = [()] * pos.size
        leaf = self.leaf[pos]
        for k in np.unique(leaf):
            shape = self.shapes[int(k)]
            mine = np.flatnonzero(leaf == k)
            if shape:
                parts = np.unravel_index(self.flat[pos[mine]], shape)
                for j, idx in zip(mine.tolist(), zip(*(p.tolist() for p in parts))):
                    index[j] = idx
        a, n = self.analytic[pos], self.numerical[pos]
        return [ComponentRow(self.names[k], idx, fi, av, nv, abs(av - nv), kk)
                for k, idx, fi, av, nv, kk in zip(leaf.tolist(), index,
                                                   self.flat_index(pos).tolist(), a.tolist(),
                                                   n.tolist(), self.kink[pos].tolist())]


class GradientCheckReport:
    """What a gradient check found.

    Attributes
    ----------
    relative_error : float
        Over all checked components, kinks excluded.
    verdict : Verdict
        The verdict of ``relative_error``, or the worst parameter's verdict when that is worse
        (a parameter with small gradients can be wrong while the overall number looks fine).
    passed : bool
        EXCELLENT or ACCEPTABLE.
    analytic, numerical : same structure as theta
        The two gradients compared (``numerical`` is NaN where a sampled check did not look).
        For a directional check, dicts ``name -> array (n_directions,)`` of directional
        derivatives.
    per_parameter : dict of name -> ParameterRow
    kinks : list of ComponentRow
        Components where f is not smooth within +-eps (a ReLU crossing, say). Where the analytic
        value lies between the one-sided slopes it is a valid subgradient, left out of the
        verdict (not measured); outside them it is judged against the nearest valid value.
    path : str
        Which path computed the estimate, and why (printed under the header).
    """

    def __init__(self, *, kind, method, eps, components, per_parameter, analytic, numerical,
                 relative_error, verdict, note, n_total, thresholds, path="generic"):
        self.kind = kind
        self.method = method
        self.eps = eps
        self._components = components
        self.per_parameter = per_parameter
        self.analytic = analytic
        self.numerical = numerical
        self.relative_error = relative_error
        self.verdict = verdict
        self.note = note
        self.n_total = n_total
        self.thresholds = thresholds
        self.path = path
        self.kinks = components.rows(np.flatnonzero(components.kink))

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def n_checked(self) -> int:
        return len(self._components)

    @property
    def n_measured(self) -> int:
        """Checked components that were measured (valid subgradients at kinks are not)."""
        return sum(p.n_measured for p in self.per_parameter.values())

    @property
    def rows(self) -> list[ComponentRow]:
        """Every checked component, in theta order (built on each access: a full check of a
        large model has as many rows as weights)."""
        return self._components.rows()

    def worst(self, k: int = 5, failing_only: bool | None = None) -> list[ComponentRow]:
        """The ``k`` checked components with the largest ``|analytic - numerical|`` (NaN first,
        ties in theta order).

        ``failing_only`` (default: when some parameter did not pass) keeps the components of
        the parameters that did not pass: a large, correct gradient elsewhere does not push the
        wrong ones off the list."""
        k = max(0, int(k))
        err = self._components.abs_error()
        key = np.where(np.isnan(err), np.inf, err)
        failing = [i for i, p in enumerate(self.per_parameter.values())
                   if p.verdict is not None and not p.verdict.passed]
        if failing_only is None:
            failing_only = bool(failing)
        if failing_only:
            key = np.where(np.isin(self._components.leaf, failing), key, -1.0)
            k = min(k, int(np.sum(key >= 0)))
        order = np.argsort(-key, kind="stable")[:k]
        return self._components.rows(order)

    # -- text
    def _header(self) -> str:
        what = {"full": "every component", "sampled": "a random sample of components",
                "directional": "random directions per parameter"}[self.kind]
        eps = "default step" if self.eps is None else f"eps={self.eps:g}"
        band = classify_relative_error(self.relative_error, self.thresholds)
        # the number beside the verdict lies in its band, or the line says what decided it
        why = f": {self.verdict.explanation}" if band == self.verdict else f" ({self.note})"
        lines = [
            f"Gradient check ({self.method} differences, {eps}), {what}: "
            f"{self.n_checked} checked of {self.n_total}",
            f"relative error {self.relative_error:.2e} -> {self.verdict.name}{why}",
        ]
        if self.note and band == self.verdict:
            lines.append(f"note: {self.note}")
        lines.append(f"path: {self.path}")
        if self.kinks:
            n_sub = sum(p.n_subgradients for p in self.per_parameter.values())
            lines.append(f"{len(self.kinks)} kink(s): f is not smooth within +-eps there "
                         f"(e.g. a ReLU crossing 0); {n_sub} with the analytic value between "
                         "the one-sided slopes (a valid subgradient, not measured, left out of "
                         "the verdict)" + (f", {len(self.kinks) - n_sub} outside them (judged)"
                                           if len(self.kinks) > n_sub else ""))
        return "\n".join(lines)

    def _param_table(self) -> list[list[str]]:
        rows = [["parameter", "shape", "checked", "rel. error", "verdict"]]
        for p in self.per_parameter.values():
            verdict = "not sampled" if p.verdict is None else p.verdict.name
            if p.note:
                verdict += f" ({p.note})"
            if p.n_kinks:
                verdict += f", {p.n_kinks} kink(s)"
            rows.append([p.name, str(p.shape), str(p.n_checked), p.error_text(), verdict])
        return rows

    def _worst_table(self, k: int = 5) -> list[list[str]]:
        head = "direction" if self.kind == "directional" else "index"
        rows = [["parameter", head, "analytic", "numerical", "abs error", "its verdict"]]
        for r in self.worst(k):
            p = self.per_parameter[r.name]
            rows.append([r.name, str(r.index), f"{r.analytic: .6e}", f"{r.numerical: .6e}",
                         f"{r.abs_error:.2e}" + (" kink" if r.kink else ""),
                         "not sampled" if p.verdict is None else p.verdict.name])
        return rows

    def _worst_title(self) -> str:
        if any(p.verdict is not None and not p.verdict.passed
               for p in self.per_parameter.values()):
            return "worst components of the parameters that did not pass:"
        return "worst components (largest |analytic - numerical|):"

    def _pattern_lines(self) -> list[str]:
        """The pattern sentence of each parameter ("" for one that passed), in table order."""
        return ["" if p.pattern is None else f"pattern: {p.pattern}"
                for p in self.per_parameter.values()]

    def __str__(self) -> str:
        table = _text_table(self._param_table()).split("\n")
        lines = table[:1]
        for row, pattern in zip(table[1:], self._pattern_lines()):
            lines.append(row)
            if pattern:
                lines += textwrap.wrap(pattern, 96, initial_indent="    ",
                                       subsequent_indent="      ")
        parts = [self._header(), "", "\n".join(lines), "",
                 self._worst_title(), _text_table(self._worst_table())]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (f"<GradientCheckReport {self.verdict.name} relative_error="
                f"{self.relative_error:.2e} checked={self.n_checked}/{self.n_total}>")

    def _repr_html_(self) -> str:
        color = self.verdict.color
        head = html.escape(self._header()).replace("\n", "<br>")
        head = head.replace(self.verdict.name,
                            f'<b style="color:{color}">{self.verdict.name}</b>', 1)
        return (f"<div><p>{head}</p>{_html_table(self._param_table(), self._pattern_lines())}"
                f"<p>{html.escape(self._worst_title())}</p>"
                f"{_html_table(self._worst_table())}</div>")


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()
                     for r in rows)


def _html_table(rows: list[list[str]], notes: list[str] | None = None) -> str:
    """An HTML table; ``notes[i]``, when not empty, is a line under body row i."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    notes = notes or [""] * (len(rows) - 1)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" + (
        f'<tr><td></td><td colspan="{len(r) - 1}"><i>{html.escape(note)}</i></td></tr>'
        if note else "") for r, note in zip(rows[1:], notes))
    return f"<table><tr>{head}</tr>{body}</table>"

