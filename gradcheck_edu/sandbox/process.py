"""One sandboxed child process: started, spoken to under a deadline, killed with all it started.

:class:`Child` owns the process (bubblewrap, or a plain child with ``Isolation.NONE``), the two
pipes of its channel and, without bubblewrap, its temporary working folder. Killing it kills
the process group of bubblewrap; bubblewrap's ``--die-with-parent`` and its own pid namespace
then take every process the submission started with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from . import launch, protocol
from .cells import CellStatus

__all__ = ["Child", "death"]

START_SECONDS = 60.0  # the runner's own start (nothing of the student's has run yet)


class Child:
    """A running sandbox: :meth:`exchange` a request for its reply, :meth:`kill` it."""

    def __init__(self, isolation: launch.Isolation, limits: launch.Limits, notebook: Path,
                 log: str) -> None:
        """Start the runner in a sandbox holding ``notebook``, its output appended to ``log``,
        and wait for it to be ready (at most START_SECONDS: no student code runs yet)."""
        to_child, from_child = os.pipe(), os.pipe()
        name = notebook.name if notebook.name not in ("", ".", "..") else "submission.ipynb"
        self.workdir: str | None = None
        nb_fd = os.open(notebook, os.O_RDONLY)
        out_fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        try:
            cwd, env = None, None
            if isolation is launch.Isolation.NONE:
                self.workdir = tempfile.mkdtemp(prefix="gradcheck-nosandbox-")
                shutil.copyfile(notebook, os.path.join(self.workdir, name))
                cwd = self.workdir
                env = dict(launch.environment(), HOME=cwd, MPLCONFIGDIR=cwd + "/.matplotlib")
            cmd = launch.command(isolation, limits, nb_fd, name, (to_child[0], from_child[1]))
            self.proc: subprocess.Popen | None = subprocess.Popen(
                cmd, pass_fds=(to_child[0], from_child[1], nb_fd), stdin=subprocess.DEVNULL,
                stdout=out_fd, stderr=out_fd, cwd=cwd, env=env, start_new_session=True)
        except BaseException:
            for fd in (to_child[1], from_child[0]):
                os.close(fd)
            if self.workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        finally:
            for fd in (to_child[0], from_child[1], nb_fd, out_fd):
                os.close(fd)
        self.fd_in, self.fd_out = from_child[0], to_child[1]
        os.set_blocking(self.fd_out, False)  # a child that stops reading cannot block us
        # a Child dropped without kill() (a Sandbox never closed) still takes its processes
        self.namespace = isolation is launch.Isolation.BWRAP
        self._finalizer = weakref.finalize(self, _kill_group, self.proc, self.namespace)
        try:
            header, _ = protocol.recv(self.fd_in, time.monotonic() + START_SECONDS)
            if header.get("op") != "ready":
                raise protocol.ProtocolError("no ready message")
        except (TimeoutError, EOFError, OSError, protocol.ProtocolError) as err:
            self.kill()
            with open(log, "rb") as f:
                said = f.read()[-2000:].decode("utf-8", errors="replace")
            raise launch.SandboxUnavailable(
                f"the sandbox did not start ({type(err).__name__}): {said}") from None

    def exchange(self, header: dict, blobs: list[bytes], deadline: float
                 ) -> tuple[dict, list[bytes]]:
        """Send a request, read its reply. Raises TimeoutError, EOFError/OSError (the process
        is gone) or :class:`~.protocol.ProtocolError` (a reply that is not one)."""
        protocol.send(self.fd_out, header, blobs, deadline)
        reply, reply_blobs = protocol.recv(self.fd_in, deadline)
        if reply.get("id") != header.get("id") or type(reply.get("ok")) is not bool:
            raise protocol.ProtocolError("a reply to no request")
        return reply, reply_blobs

    def exit_code(self, seconds: float = 2.0) -> int | None:
        """The exit code once it has exited (Popen's: -n for a signal), or None."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Kill the process and all it started; close the channel; remove its folder."""
        proc, self.proc = self.proc, None
        if proc is not None:
            self._finalizer.detach()
            _kill_group(proc, self.namespace)
        for fd in (self.fd_in, self.fd_out):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fd_in = self.fd_out = -1
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_group(proc: subprocess.Popen, namespace: bool) -> None:
    """Kill the sandbox: first bubblewrap's child (the init of its pid namespace, so that the
    kernel kills everything in it and bubblewrap reaps it: no zombie is left to the system's
    init), then bubblewrap's process group, then reap bubblewrap. Without a namespace: the
    runner's children, then its process group."""
    for child in _children(proc.pid):
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if namespace:
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def death(code: int | None, what: str, memory_mb: int) -> tuple[CellStatus, str]:
    """What a process's exit code says happened while it ran ``what``."""
    if code is None:
        return CellStatus.CRASHED, f"the process stopped answering while running {what}"
    # bwrap exits 128 + n when its child is killed by signal n; Popen gives -n
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig == signal.SIGKILL:
        return CellStatus.MEMORY, (f"the process was killed while running {what} (out of "
                                   f"memory? the limit is {memory_mb} MB)")
    if sig:
        return CellStatus.CRASHED, f"the process crashed ({_signal_name(sig)}) while running {what}"
    return CellStatus.CRASHED, (f"the process exited (exit code {code}: os._exit?) while "
                                f"running {what}")
