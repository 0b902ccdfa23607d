"""The demo, the figures command, and a light import."""

import subprocess
import sys

from gradcheck_edu.cli import FIGURES, write_figures


def test_demo_prints_the_lessons():
    out = subprocess.run([sys.executable, "-m", "gradcheck_edu", "demo"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needle in ("3.030100", "3.000100", "EXCELLENT", "WRONG", "b1", "Debugging checklist",
                   "slope  1.00", "slope  2.00"):
        assert needle in text, needle


def test_figures_are_written_and_deterministic(tmp_path):
    first = write_figures(tmp_path / "a")
    second = write_figures(tmp_path / "b")
    assert [p.name for p in first] == [f"{name}.png" for name in FIGURES]
    for a, b in zip(first, second):
        data = a.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert data == b.read_bytes(), a.name


def test_figures_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gradcheck_edu", "figures", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(list(tmp_path.glob("*.png"))) == len(FIGURES)


def test_import_is_light():
    code = ("import sys, gradcheck_edu; "
            "print(sorted(m for m in ('matplotlib', 'scipy', 'gradcheck_edu.nn', "
            "'gradcheck_edu.plots') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout
