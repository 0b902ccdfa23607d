"""The homework sources in assignments/ are kept like the notebooks (no outputs and the python3
kernel: test_notebooks_clean), ruff-clean, and with an otter assignment config (so
`assignments build` finds them)."""

import subprocess
import sys
from pathlib import Path

from gradcheck_edu import assignments

ROOT = Path(__file__).resolve().parents[1]
HOMEWORK = sorted((ROOT / "assignments").glob("*.ipynb"))


def test_every_source_is_found():
    found = assignments.sources(ROOT)
    assert HOMEWORK and set(HOMEWORK) <= set(found)
    assert {p.name[:2] for p in found if p.parent.name == "notebooks"} == {
        "01", "02", "03", "04", "05", "06"}


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "assignments"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
