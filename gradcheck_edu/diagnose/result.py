"""The result every diagnostic returns: numbers, a pass/fail, a message and a fix."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckResult"]


@dataclass
class CheckResult:
    """One diagnostic's finding.

    Attributes
    ----------
    name : str
        Which check (``"data"``, ``"initial_loss"``, ...).
    passed : bool or None
        True (healthy), False (a problem was found), None (the check could not run; ``message``
        says why).
    message : str
        What was measured and what it means, with the numbers.
    fix : str
        What to try when it failed ("" when it passed).
    numbers : dict
        The measurements behind the message, for tests and plots.
    ran : str
        What the check ran when that is not simply the user's model, data and learning rate
        (a subset, another learning rate, a larger model), and why; printed on a line of its
        own (several: one per line). "" when it ran on what it was given.
    """

    name: str
    passed: bool | None
    message: str
    fix: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    ran: str = ""

    @property
    def box(self) -> str:
        return {True: "[x]", False: "[ ]", None: "[?]"}[self.passed]

    def __str__(self) -> str:
        text = f"{self.box} {self.name}: {self.message}"
        for line in self.ran.splitlines():
            text += f"\n      ran: {line}"
        if self.fix and not self.passed:
            text += f"\n      fix: {self.fix}"
        return text

    def _repr_html_(self) -> str:
        color = {True: "#1a7f37", False: "#c62828", None: "#777777"}[self.passed]
        fix = f"<br><i>fix:</i> {html.escape(self.fix)}" if self.fix and not self.passed else ""
        ran = "".join(f"<br><i>ran:</i> {html.escape(line)}" for line in self.ran.splitlines())
        return (f'<p><b style="color:{color}">{html.escape(self.box)} {html.escape(self.name)}'
                f"</b>: {html.escape(self.message)}{ran}{fix}</p>")
