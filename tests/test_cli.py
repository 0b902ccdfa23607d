"""The demo, the figures command, the committed figures, and a light import."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck_edu import cli
from gradcheck_edu.cli import DEMO_FIGURES, FIGURES, main, write_figures

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
STALE = "run `gradcheck-edu figures` from the repository root and commit figures/"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Every figure, drawn by this code into a temporary folder."""
    return write_figures(tmp_path_factory.mktemp("figures"))


def _same_image(a: Path, b: Path) -> bool:
    """Byte-equal, or else pixel-equal once decoded (PNG encoders may differ in compression)."""
    if a.read_bytes() == b.read_bytes():
        return True
    import matplotlib.image as mpimg

    pa, pb = mpimg.imread(a), mpimg.imread(b)
    return pa.shape == pb.shape and np.array_equal(pa, pb)


def test_every_figure_is_written(fresh):
    assert [p.name for p in fresh] == [f"{name}.png" for name in FIGURES]
    for path in fresh:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path.name
        assert b"Software" not in data and b"matplotlib" not in data, path.name


def test_committed_figures_are_what_the_code_draws(fresh):
    assert sorted(p.name for p in COMMITTED.glob("*.png")) == sorted(p.name for p in fresh), \
        f"figures/ holds other files than the registered figures: {STALE}"
    for path in fresh:
        assert _same_image(path, COMMITTED / path.name), f"figures/{path.name} is stale: {STALE}"


def test_figures_command_writes_the_same_bytes_in_a_new_process(tmp_path, fresh):
    out = subprocess.run([sys.executable, "-m", "gradcheck_edu", "figures", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"wrote {len(FIGURES)} figures to {tmp_path.resolve()}" in out.stdout
    for path in fresh:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_figures_command_defaults_to_figures_in_the_working_folder(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "write_figures", lambda out: calls.append(out) or [])
    monkeypatch.chdir(tmp_path)
    assert main(["figures"]) == 0
    assert calls == ["figures"]
    assert str(tmp_path.resolve() / "figures") in capsys.readouterr().out


def test_demo_prints_the_lessons_and_writes_the_figures(tmp_path, fresh):
    out = subprocess.run([sys.executable, "-m", "gradcheck_edu"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needle in ("3.030100", "3.000100", "EXCELLENT", "WRONG", "Debugging checklist",
                   "slope  1.00", "slope  2.00", "slope  4.00",
                   "located: the gradients of W1, b1, W2, b2 are wrong", "16 is the batch",
                   "every gradient is m times too large"):
        assert needle in text, needle
    # the round-off side of every subtracting stencil falls like 1/eps
    sides = [float(v) for v in re.findall(r"round-off side\s+(-?\d\.\d\d)", text)]
    assert len(sides) == 4 and all(abs(v + 1) < 0.15 for v in sides), sides
    folder = tmp_path / DEMO_FIGURES
    assert f"wrote {len(FIGURES)} figures to {folder.resolve()}" in text
    for path in fresh:
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name


def test_demo_options(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "write_figures", lambda out: calls.append(out) or [])
    monkeypatch.setattr(cli, "DEMO_SECTIONS", [])  # only the option handling is tested here
    assert main(["demo", "--no-figures"]) == 0
    assert calls == [] and "figures to" not in capsys.readouterr().out
    assert main(["demo", "--figures", str(tmp_path / "here")]) == 0
    assert calls == [str(tmp_path / "here")]
    assert f"figures to {(tmp_path / 'here').resolve()}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--no-figures", "--figures", "x"])


def test_import_is_light():
    code = ("import sys, gradcheck_edu; "
            "print(sorted(m for m in ('matplotlib', 'scipy', 'gradcheck_edu.nn', "
            "'gradcheck_edu.plots') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("argv", [["demo", "--figures"], ["figures", "--out"]])
def test_a_figure_folder_under_a_file_is_refused_before_anything_runs(tmp_path, argv, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exc:
        main(argv + [str(blocker / "figs")])
    assert exc.value.code == 2
    err = capsys.readouterr()
    assert "is a file, not a folder" in err.err and "Gradient check" not in err.out
