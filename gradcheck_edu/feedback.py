"""Feedback on a student's answer: a verdict and a hint, never the answer itself.

The checks of the course notebooks' exercises (see ``notebooks/``) call these; each returns a
:class:`Feedback` whose ``str()`` a student reads, and an autograder test asserts
``feedback.passed`` with the feedback as the message (:func:`require`). Everything the student's
code does while it is checked (warnings, prints to stdout or stderr) is captured by
:func:`quietly` and reported in the feedback: a graded cell writes nothing to stderr.

>>> import numpy as np
>>> fb = check_function(lambda f, t: (f(t + 0.1) - f(t)) / 0.1, lambda f, t: 3 * t**2,
...                     [("t**3 at 1", (lambda t: t**3, 1.0))], name="slope", hint="two-sided?")
>>> print(fb.passed, fb.verdict.name)
False WRONG
>>> print(check_number(..., 3.0, name="prediction"))
prediction: not answered yet: replace the ... with your answer.
>>> print(check_number(3.1, 3.0, name="prediction", rtol=0.1, explain="the slope is 3."))
prediction: right. the slope is 3.
>>> print(check_number(4.0, 3.0, name="prediction", rtol=0.1, explain="the slope is 3."))
prediction: not within 10%: too large.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .basics import relative_error
from .mistakes import (
    at_labels,
    describe_error,
    failed_cell,
    known_wrong,
    matching_factor,
    name_factor,
    name_function,
    name_number,
    not_a_number,
    small_mismatch,
)
from .verdicts import Verdict, classify_relative_error

__all__ = ["Feedback", "unanswered", "quietly", "Captured", "require", "check_number",
           "check_function", "check_gradient", "check_names", "check_numbers", "check_choice",
           "check_report", "mismatch_hint", "describe_error", "failed_cell"]


@dataclass
class Feedback:
    """The verdict on one answer, and what to try next.

    Attributes
    ----------
    name : str
        What was checked ("one_sided", "row W", ...).
    passed : bool
    message : str
        One or a few sentences for the student: the verdict and a hint, no reference values.
    verdict : Verdict or None
        For answers compared with the library by relative error.
    explanation : str
        What a right answer means (the measurement, the reason), shown only once it passed: the
        ``explain=`` of the checks. Empty for a wrong answer.
    """

    name: str
    passed: bool
    message: str
    verdict: Verdict | None = None
    explanation: str = ""

    def __str__(self) -> str:
        tail = f" {self.explanation}" if self.passed and self.explanation else ""
        return f"{self.name}: {self.message}{tail}"

    def explained(self, explain: str | None) -> Feedback:
        """This feedback with ``explain`` attached when it passed (a wrong answer gets none)."""
        if self.passed and explain:
            self.explanation = explain
        return self


def unanswered(value: Any) -> bool:
    """True for the placeholders a student version leaves: ``...`` (otter's) and ``None``."""
    return value is Ellipsis or value is None


@dataclass
class Captured:
    """What :func:`quietly` caught: warning messages and the text written to stdout/stderr."""

    warnings: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    def note(self) -> str:
        """A sentence for the feedback ('' when nothing was caught)."""
        parts = []
        if self.warnings:
            shown = "; ".join(dict.fromkeys(self.warnings))
            parts.append(f"your code raised {len(self.warnings)} warning(s): {shown[:300]}")
        if self.stderr.strip():
            parts.append(f"it wrote to stderr: {self.stderr.strip()[:200]!r}")
        return (" (" + "; ".join(parts) + ")") if parts else ""


@contextlib.contextmanager
def quietly() -> Iterator[Captured]:
    """Run a student's code with warnings and stdout/stderr captured into a :class:`Captured`."""
    captured = Captured()
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            yield captured
        finally:
            captured.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
            captured.stdout, captured.stderr = out.getvalue(), err.getvalue()


def require(feedback: Feedback) -> None:
    """Raise ``AssertionError(str(feedback))`` unless it passed: the autograder's test body.

    A right answer with an explanation prints it (to stdout, in the ``grader.check`` cell): the
    student reads why only after answering right.
    """
    if not feedback.passed:
        raise AssertionError(str(feedback))
    if feedback.explanation:
        print(feedback)


def _failed_call(name: str, err: BaseException, hint: str | None) -> Feedback:
    tail = f" Hint: {hint}" if hint else ""
    return Feedback(name, False, f"your code raised {describe_error(err)}.{tail}",
                    Verdict.WRONG)


def check_number(value: Any, reference: float, *, name: str, rtol: float = 0.01,
                 factor: float | None = None, hint: str | None = None,
                 explain: str | None = None, units: dict[str, float] | None = None,
                 wrong: dict[str, float] | None = None) -> Feedback:
    """A predicted number against the measured one, within ``rtol`` (relative), or within a
    ``factor`` either way (for orders of magnitude: a step, an error).

    The feedback says right, too large or too small, and the hint; never the reference. A
    string is not a number (``'0.003'`` fails). A common wrong answer is named
    (:func:`~gradcheck_edu.mistakes.name_number`): the other sign, a factor 2 (within ``rtol``
    only), an answer counted in ``units`` (``{"eps": 0.001}``), one of the ``wrong`` values
    (what it is -> value). A right answer gets ``explain`` (the measured value, why), which a
    wrong one never shows.
    """
    if unanswered(value):
        return Feedback(name, False, "not answered yet: replace the ... with your answer.")
    problem = not_a_number(value)
    if problem:
        return Feedback(name, False, problem)
    v = float(value)

    def right(x: float) -> bool:
        if not math.isfinite(x):
            return False
        if factor is not None:
            return x > 0 and reference / factor <= x <= reference * factor
        return abs(x - reference) <= rtol * abs(reference)

    if right(v):
        return Feedback(name, True, "right.").explained(explain)
    within = f"a factor {factor:g}" if factor is not None else f"{100 * rtol:g}%"
    side = "too large" if v > reference else "too small"
    seen = name_number(v, right, units=units, wrong=wrong, scale=factor is None)
    tail = (f" {seen}" if seen else "") + (f" Hint: {hint}" if hint else "")
    return Feedback(name, False, f"not within {within}: {side}.{tail}")


def check_numbers(values: Any, reference: dict[str, float], *, name: str, rtol: float = 0.01,
                  hint: str | None = None, explain: str | None = None) -> Feedback:
    """Several predictions at once (``values`` a dict with the keys of ``reference``): each is
    right, too large or too small; the hint follows (``explain`` when all are right)."""
    if unanswered(values):
        return Feedback(name, False, "not answered yet: replace the ... with your answers.")
    if not isinstance(values, dict):
        return Feedback(name, False, f"expected a dict with keys {sorted(reference)}.")
    parts, passed = [], True
    for key, ref in reference.items():
        got = check_number(values.get(key), ref, name=key, rtol=rtol)
        parts.append(f"{key} {got.message.rstrip('.')}")
        passed = passed and got.passed
    tail = "" if passed or not hint else f" Hint: {hint}"
    return Feedback(name, passed, "; ".join(parts) + "." + tail).explained(explain)


def check_choice(answer: Any, expected: str | Callable[[str], bool], options: Sequence[str], *,
                 name: str, hint: str | None = None, explain: str | None = None) -> Feedback:
    """One name out of ``options`` (a bug of the catalog, say): right or not, and the hint.

    ``expected`` is the right option, or a test of an option (``lambda name: ...``, e.g.
    comparing digests with :func:`gradcheck_edu.examples.is_mystery`), so that the check's
    source need not spell out the answer. A right answer gets ``explain``.
    """
    if unanswered(answer):
        return Feedback(name, False, "not answered yet: replace the ... with your answer.")
    if answer not in options:
        return Feedback(name, False, f"{answer!r} is not one of the options: "
                        f"{', '.join(map(str, options))}.")
    if (expected(answer) if callable(expected) else answer == expected):
        return Feedback(name, True, "right.").explained(explain)
    tail = f" Hint: {hint}" if hint else ""
    return Feedback(name, False, f"not {answer!r}.{tail}")


def check_report(report: Any, *, name: str, hint: str | None = None,
                 explain: str | None = None) -> Feedback:
    """A gradient check's report as feedback: the verdict and, for each failing parameter, what
    its mismatch looks like (its ``pattern`` when the checker reads one). A passing report
    gets ``explain``."""
    if report.passed:
        return Feedback(name, True, f"{report.verdict.name}.", report.verdict).explained(explain)
    lines = []
    for row in report.per_parameter.values():
        if row.verdict is None or row.verdict.passed:
            continue
        a, n = report.analytic, report.numerical
        a, n = (a[row.name], n[row.name]) if isinstance(a, dict) else (a, n)
        why = (row.note if row.verdict is Verdict.CANNOT_TELL else
               mismatch_hint(a, n, row.pattern)).rstrip(".")
        lines.append(f"{row.name} {row.verdict.name}: {why}")
    tail = f" Hint: {hint}" if hint else ""
    text = "; ".join(lines)
    text += "" if text.endswith(("?", ".")) else "."
    return Feedback(name, False, f"{report.verdict.name}; {text}{tail}",
                    report.verdict)


def check_function(func: Any, reference: Callable, cases: Sequence[tuple[str, tuple]], *,
                   name: str, hint: str | None = None,
                   wrong: Sequence[tuple[str, Callable]] | None = None) -> Feedback:
    """A student's function against the library's, on labelled argument tuples.

    Each case is ``(label, args)``; ``func(*args)`` and ``reference(*args)`` are compared by
    relative error and the worst case's verdict is the verdict. Arguments that are arrays are
    copied for each call, and the feedback notes a function that modified its input. A wrong
    function is named when it returns, on every case, one of the ``wrong`` answers (``(what it
    is, function)``; default :func:`~gradcheck_edu.mistakes.known_wrong` of ``reference``: the
    central difference where the one-sided one is asked, ...) or the right values times one
    common factor (a sign, a factor 2).
    """
    if unanswered(func) or not callable(func):
        return Feedback(name, False, "not answered yet: write the function in place of the ....")
    worst: tuple[Verdict, str] = (Verdict.EXCELLENT, "")
    n_wrong = 0
    seen: list[tuple[Any, Any, tuple]] = []
    for label, args in cases:
        mine = tuple(np.array(a, dtype=float) if isinstance(a, np.ndarray) else a for a in args)
        try:
            with quietly() as captured:
                value = func(*mine)
        except Exception as err:  # the student's code: any error becomes feedback
            return _failed_call(name, err, hint)
        if unanswered(value):
            return Feedback(name, False, f"not answered yet: your function returns {value!r} "
                            f"({label}); return the value.")
        if any(isinstance(a, np.ndarray) and not np.array_equal(a, b)
               for a, b in zip(args, mine)):
            return Feedback(name, False, f"your function modified its input ({label}): restore "
                            "what you perturb (in a finally block).")
        expected = reference(*args)
        if np.shape(value) != np.shape(expected):
            return Feedback(name, False, f"your function returns shape {np.shape(value)} for "
                            f"{label}; the answer has shape {np.shape(expected)}.")
        try:
            verdict = classify_relative_error(relative_error(np.asarray(value, dtype=float),
                                                             np.asarray(expected, dtype=float)))
        except (TypeError, ValueError):
            return Feedback(name, False, f"your function returns {type(value).__name__} for "
                            f"{label}, not a number or an array of numbers.")
        seen.append((value, expected, args))
        n_wrong += not verdict.passed
        if verdict > worst[0] or not worst[1]:
            worst = (verdict, label + captured.note())
    if n_wrong == 0:
        return Feedback(name, True, f"{worst[0].name} on all {len(cases)} inputs.", worst[0])
    named = name_function(seen, known_wrong(reference) if wrong is None else wrong)
    tail = (f" {named}" if named else "") + (f" Hint: {hint}" if hint else "")
    return Feedback(name, False, f"{worst[0].name} ({worst[0].explanation.split(',')[0]}) on "
                    f"{n_wrong} of {len(cases)} inputs, e.g. {worst[1]}.{tail}", worst[0])


def mismatch_hint(analytic: np.ndarray, numerical: np.ndarray, pattern: Any = None, *,
                  name: str = "", sizes: dict[str, int] | None = None,
                  factors: dict[str, float] | None = None, labels: Any = None) -> str:
    """What the mismatch of two gradients looks like, in words (no values of either).

    ``pattern`` (a report row's ``.pattern``, when the checker reads one) is used when given,
    with what the caller knows named in it: a factor that is one of ``sizes`` (``{"the batch
    size": 4}``) or ``factors`` (numbers the layer holds: ``{"p": 0.6}``), entries that are the
    positions of the ``labels``. A gradient too small for a pattern (a bias of 3 components)
    is read when the mismatch is exact (:func:`~gradcheck_edu.mistakes.small_mismatch`: the loss
    does not depend on ``name``, a factor). Else: all zeros, NaN, one common factor, or how
    many components are off.
    """
    kind = getattr(pattern, "kind", None)
    if kind == "unknown":
        read = small_mismatch(analytic, numerical, name or "it", sizes, factors)
        if read:
            return read
    if kind == "scale" and pattern.factor and factors:
        if matching_factor(pattern.factor, factors) is not None:
            return name_factor(pattern.factor, None, factors)
    if pattern is not None:
        return at_labels(getattr(pattern, "where", None), labels) or _student_sentence(pattern)
    a, n = np.asarray(analytic, dtype=float).ravel(), np.asarray(numerical, dtype=float).ravel()
    if not np.all(np.isfinite(a)):
        return "your gradient has NaN or inf entries."
    if not np.any(a) and np.any(n):
        return "your gradient is all zeros: not computed yet, or overwritten?"
    scale = np.max(np.abs(n)) if n.size else 0.0
    big = np.abs(n) > 1e-3 * scale
    if scale > 0 and big.sum() >= 3:
        k = float(np.median(a[big] / n[big]))
        if np.allclose(a, k * n, rtol=1e-4, atol=1e-6 * scale):
            what = "a sign error?" if abs(k + 1) < 1e-3 else "a missing or extra constant factor?"
            return f"your gradient is {k:.4g} x the right one in every component: {what}"
    off = np.abs(a - n) > 1e-4 * max(scale, 1e-12)
    return f"{int(off.sum())} of {off.size} components are off."


def _student_sentence(pattern: Any) -> str:
    """The pattern's sentence, ending in a full stop. For a "zero" pattern the positions are
    replaced by their count: where the reference gradient is zero is part of the answer."""
    text = str(pattern).rstrip()
    where = getattr(pattern, "where", None)
    if where is not None and getattr(pattern, "kind", None) == "zero":
        axis = getattr(where, "axis", "components")
        text = text.replace(str(where), f"{len(where)} {axis}")
    return text if text.endswith((".", "?", "!")) else text + "."


def check_gradient(values: Any, f: Callable[[Any], float], theta: Any, *, name: str,
                   hint: str | None = None) -> Feedback:
    """A gradient a student computed (by a loop of their own, say) against central differences.

    ``values`` has the structure of ``theta``; ``f(theta) -> float``. The verdict is that of
    :func:`~gradcheck_edu.gradient_check`, and the hint says what the mismatch looks like.
    """
    from .check import gradient_check

    if unanswered(values):
        return Feedback(name, False, "not answered yet: compute it in place of the ....")
    try:
        with quietly() as captured:
            report = gradient_check(f, values, theta)
    except (TypeError, ValueError) as err:
        return Feedback(name, False, f"could not compare: {err}")
    got = check_report(report, name=name, hint=hint)
    got.message += captured.note()
    return got


def check_names(answer: Any, expected: set[str], *, name: str, hint: str | None = None,
                explain: str | None = None) -> Feedback:
    """A set of names (parameters at fault, say): counts of right, wrong and missing ones; a
    right set gets ``explain``."""
    if unanswered(answer):
        return Feedback(name, False, "not answered yet: replace the ... with a set of names.")
    if isinstance(answer, str) or not isinstance(answer, (set, frozenset, list, tuple)):
        return Feedback(name, False, f"expected a set of names like {{'W1'}}, got {answer!r}.")
    got = {str(a) for a in answer}
    if got == expected:
        return Feedback(name, True, "right.").explained(explain)
    right, wrong, missing = len(got & expected), len(got - expected), len(expected - got)
    tail = f" Hint: {hint}" if hint else ""
    return Feedback(name, False, f"{right} of your {len(got)} name(s) are right, {wrong} are "
                    f"not, and {missing} are missing.{tail}")
