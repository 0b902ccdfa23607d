"""What the README tells a newcomer to run is what CI runs.

The rule: the section "Two commands on a fresh machine" holds exactly two fenced ``bash`` blocks,
the set-up and the test command, one line each. Each line is split into commands at ``&&``, and
every command must be a line of ``.ci/run``, compared as shell words (``shlex``), with two
spellings taken as equal: the README's ``.venv`` is CI's fresh ``"$venv"``, and CI may add
``--quiet`` to ``pip``. Anything else the README shows (the demo, Jupyter, the student build) is
in prose, not in those blocks.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Two commands on a fresh machine"


def _section(text: str) -> str:
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    return text[start:] if end < 0 else text[start:end]


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", _section(text), flags=re.S | re.M)


def _readme_commands(text: str) -> list[list[str]]:
    """Each command of the section's blocks, as shell words with .venv spelled as CI spells it."""
    commands = []
    for block in _blocks(text):
        for line in block.strip().splitlines():
            for command in line.split("&&"):
                words = shlex.split(command, comments=True)
                commands.append([re.sub(r"^\.venv(?=/|$)", "$venv", w) for w in words])
    return commands


def _ci_commands(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # a line of a multi-line construct; not a command of the README's
            continue
        if words[:1] == ["pip"] or words[1:3] == ["-m", "pip"]:
            words = [w for w in words if w != "--quiet"]
        if words:
            out.append(words)
    return out


def _missing(readme: str, ci: str) -> list[str]:
    """The README's commands that the CI script does not run."""
    runs = _ci_commands(ci)
    return [shlex.join(c) for c in _readme_commands(readme) if c not in runs]


README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def test_the_section_shows_two_commands_set_up_then_test():
    blocks = _blocks(README)
    assert len(blocks) == 2, blocks
    assert all(len(b.strip().splitlines()) == 1 for b in blocks), blocks
    setup, test = (b.strip() for b in blocks)
    assert "pip install" in setup and test == "python -m pytest", blocks


def test_every_readme_command_is_one_ci_runs():
    assert len(_readme_commands(README)) == 4  # venv, activate, pip install, pytest
    missing = _missing(README, CI)
    assert not missing, f"README commands that .ci/run does not run: {missing}"


def test_the_rule_catches_a_command_ci_does_not_run():
    fewer_extras = README.replace('pip install -e ".[dev,course]"', 'pip install -e ".[dev]"')
    assert _missing(fewer_extras, CI) == ["pip install -e '.[dev]'"]
    no_tests = CI.replace("\npython -m pytest\n", "\npython -m pytest -x\n")
    assert _missing(README, no_tests) == ["python -m pytest"]
