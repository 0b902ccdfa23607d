"""How the sandbox is started: the bubblewrap command line, the limits, what is protected.

With :attr:`Isolation.BWRAP` the child sees (all read-only) ``/usr`` and the Python install
(``sys.base_prefix``, ``sys.prefix``: the interpreter and its site-packages), the
``gradcheck_edu`` package alone at ``/opt/ge/gradcheck_edu`` (not the repository it may be
installed from in editable mode, whose notebooks hold the solutions), and a fresh working folder
``/home/student`` (a small tmpfs) holding only the submission. It has its own user (uid 65534),
pid, network (loopback only), IPC and UTS namespaces, a fresh ``/proc`` and ``/tmp``, no
environment but a few variables, and it dies with the grading process. The runner sets its own
rlimits before any student code runs: address space (``Limits.memory_mb``), no core files, a cap
on the size of any file written (``Limits.file_mb``, which caps the captured output too).
"""

from __future__ import annotations

import enum
import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Isolation", "Limits", "SandboxUnavailable", "bwrap_status", "command",
           "protections", "HOME", "PACKAGE_ROOT"]

HOME = "/home/student"  # the working folder inside the sandbox
PACKAGE_ROOT = "/opt/ge"  # gradcheck_edu/ is bound here, read-only
MPLCONFIGDIR = "/tmp/matplotlib"
_PACKAGE = Path(__file__).resolve().parents[1]  # .../gradcheck_edu
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from gradcheck_edu.sandbox.runner import main; main()")


class Isolation(enum.Enum):
    """How student code is kept apart from the grader.

    ``BWRAP``: in a bubblewrap sandbox (Linux). ``NONE``: a plain child process in a temporary
    folder, which only keeps the grade's arithmetic out of the student's process: use it only
    when asked for explicitly (``--unsafe-no-sandbox``), and say so in every report
    (:func:`protections` names what is off).
    """

    BWRAP = "bwrap"
    NONE = "none"


class SandboxUnavailable(RuntimeError):
    """The sandbox asked for cannot run here (bubblewrap missing or not permitted)."""


@dataclass(frozen=True)
class Limits:
    """Limits on a submission's code, in seconds and megabytes.

    cell_seconds : one notebook cell. call_seconds : one call into the sandbox (a method, a
    function, an attribute). submission_seconds : everything the submission's code runs,
    restarts included. memory_mb : the child's address space (RLIMIT_AS). file_mb : any one
    file it writes, its captured output included. disk_mb : its working folder and ``/tmp``
    (each a tmpfs of this size). processes : processes and threads at once (RLIMIT_NPROC in the
    sandbox's user namespace; the kernel does not apply it when the grader runs as root, where
    a fork bomb lasts until the cell's or call's time limit kills the sandbox).
    """

    cell_seconds: float = 30.0
    call_seconds: float = 10.0
    submission_seconds: float = 90.0
    memory_mb: int = 2048
    file_mb: int = 64
    disk_mb: int = 256
    processes: int = 64

    def __post_init__(self) -> None:
        for name in ("cell_seconds", "call_seconds", "submission_seconds", "memory_mb",
                     "file_mb", "disk_mb", "processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")


def _bwrap() -> str | None:
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None)


@functools.lru_cache(maxsize=1)
def bwrap_status() -> tuple[bool, str]:
    """``(True, path)`` when bubblewrap runs here with the namespaces the sandbox needs, else
    ``(False, why)``. Probed once per process (about 10 ms)."""
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap is Linux only (this is {sys.platform})"
    exe = _bwrap()
    if exe is None:
        return False, ("bubblewrap is not installed: apt-get install bubblewrap (Debian/Ubuntu), "
                       "dnf install bubblewrap (Fedora)")
    probe = [exe, *_namespace_args(exe), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
             "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bubblewrap at {exe} could not start: {err}"
    if done.returncode != 0:
        return False, (f"bubblewrap at {exe} cannot create the namespaces it needs "
                       f"({done.stderr.strip()[:200]}); unprivileged user namespaces may be "
                       "disabled (sysctl kernel.unprivileged_userns_clone=1, or AppArmor's "
                       "kernel.apparmor_restrict_unprivileged_userns=0)")
    return True, exe


@functools.lru_cache(maxsize=4)
def _options(exe: str) -> frozenset[str]:
    """The options this bubblewrap knows (older ones lack --disable-userns, --size, --perms)."""
    try:
        out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(w for w in (out.stdout + out.stderr).split() if w.startswith("--"))


def _namespace_args(exe: str) -> list[str]:
    extra = ["--disable-userns"] if "--disable-userns" in _options(exe) else []
    return ["--unshare-all", "--unshare-user", *extra, "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session"]


def _tmpfs(exe: str, path: str, size: int) -> list[str]:
    """A fresh tmpfs of at most ``size`` bytes (unbounded with a bubblewrap before 0.6)."""
    known = _options(exe)
    args = ["--perms", "0755"] if "--perms" in known and path != "/tmp" else []
    args += ["--size", str(size)] if "--size" in known else []
    return args + ["--tmpfs", path]


def _python_binds() -> list[str]:
    """Read-only binds of what the interpreter needs, each once, outermost first."""
    wanted = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent]
    for p in sys.path:
        if p and Path(p).is_dir() and "-packages" in p:
            wanted.append(Path(p))
    roots: list[Path] = []
    for p in sorted({w.resolve() for w in wanted} | set(wanted), key=lambda q: len(q.parts)):
        if str(p).startswith("/usr/") or p == Path("/usr"):
            continue
        if str(p) == "/" or any(r == p or r in p.parents for r in roots):
            continue
        if (p / "gradcheck_edu").is_dir() and (p / "pyproject.toml").exists():
            continue  # a source checkout on sys.path: the repository, never bound
        roots.append(p)
    args = []
    for r in roots:
        args += ["--ro-bind", str(r), str(r)]
    return args


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib32", "lib64", "sbin"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            args += ["--ro-bind", str(p), str(p)]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime",
                 "fonts"):
        p = Path("/etc") / name
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    return args


def _font_cache_binds() -> list[str]:
    """Matplotlib's font list, as the grader's user has it, read-only in the sandbox's config
    folder: without it every sandbox that plots spends about 2 s building its own."""
    base = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
    args = []
    for path in sorted(Path(base).glob("fontlist-v*.json"))[:4]:
        if path.is_file():
            args += ["--ro-bind", str(path), f"{MPLCONFIGDIR}/{path.name}"]
    return args


def environment() -> dict[str, str]:
    """The child's whole environment."""
    return {"HOME": HOME, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": MPLCONFIGDIR, "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}


def command(isolation: Isolation, limits: Limits, notebook_fd: int | None, notebook_name: str,
            channel: tuple[int, int]) -> list[str]:
    """The command that starts the runner; ``channel`` = (fd it reads, fd it writes).

    With BWRAP the submission is copied from ``notebook_fd`` into the sandbox's fresh working
    folder; with NONE the caller starts the command in a temporary folder holding the copy.
    """
    mb = 2**20
    runner = [sys.executable, "-I", "-c", _BOOT.format(
        root=PACKAGE_ROOT if isolation is Isolation.BWRAP else str(_PACKAGE.parent)),
        "--in", str(channel[0]), "--out", str(channel[1]),
        "--memory", str(int(limits.memory_mb * mb)), "--file-size", str(int(limits.file_mb * mb)),
        "--processes", str(int(limits.processes))]
    if isolation is Isolation.NONE:
        return runner
    ok, exe = bwrap_status()
    if not ok:
        raise SandboxUnavailable(exe)
    if "/" in notebook_name or notebook_name in ("", ".", ".."):
        raise ValueError(f"not a file name: {notebook_name!r}")
    size = int(limits.disk_mb * mb)
    # the fresh folders first: a Python installed under /tmp (CI's throw-away venv) is bound
    # on top of the sandbox's own /tmp, not hidden by it
    args = [exe, *_namespace_args(exe), "--proc", "/proc", "--dev", "/dev",
            *_tmpfs(exe, "/tmp", size), *_tmpfs(exe, HOME, size),
            *_system_binds(), *_python_binds(),
            "--ro-bind", str(_PACKAGE), f"{PACKAGE_ROOT}/gradcheck_edu", *_font_cache_binds()]
    if notebook_fd is not None:
        args += ["--file", str(notebook_fd), f"{HOME}/{notebook_name}"]
    args += ["--chdir", HOME, "--clearenv"]
    for key, value in environment().items():
        args += ["--setenv", key, value]
    return args + ["--", *runner]


def protections(isolation: Isolation, limits: Limits) -> tuple[str, ...]:
    """What protects the grader from a submission, one line each, ``on`` or ``OFF``."""
    on = isolation is Isolation.BWRAP
    state = "on" if on else "OFF"
    exe = _bwrap() if on else None
    sized = exe is not None and "--size" in _options(exe)
    return (
        "grade decided outside the student's process: on",
        f"filesystem isolation (only the submission, the Python install read-only): {state}",
        f"no network: {state}",
        f"own process namespace (nothing outlives the sandbox): {state}",
        f"time limits ({limits.cell_seconds:g} s a cell, {limits.call_seconds:g} s a call, "
        f"{limits.submission_seconds:g} s a submission): on",
        f"memory limit ({limits.memory_mb} MB): on",
        f"disk limit ({limits.disk_mb:g} MB, its folder and /tmp): {'on' if sized else 'OFF'}",
        f"sandbox: {'bubblewrap' if on else 'NONE (unsafe: --unsafe-no-sandbox)'}",
    )
