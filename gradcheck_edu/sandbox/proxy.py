"""The grading side of the sandbox: :class:`Sandbox`, one submission's code in its own process.

The child is started lazily (the first :meth:`Sandbox.run_cells` or :meth:`Sandbox.get`), runs
the cells one at a time, each within ``Limits.cell_seconds``, then answers calls within
``Limits.call_seconds``. When a limit passes, the process dies (``os._exit``, a crash, memory) or
it sends anything but a well-formed reply, the whole sandbox is killed and the request raises
:class:`StudentCodeError` naming what happened. The next request starts a fresh sandbox and
re-runs the cells that had run (the failed ones are skipped), so later questions are graded;
objects of the dead process raise, names found by :meth:`Sandbox.get` are found again. Past
``Limits.submission_seconds`` (restarts included) every request fails.
"""

from __future__ import annotations

import builtins
import os
import tempfile
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from . import launch, protocol
from .cells import CellResult, CellStatus, read_cells
from .process import Child, death
from .remote import Remote, RemoteMethod, mirrors_in, mirrors_out, remote_class

__all__ = ["Sandbox", "StudentCodeError"]

_OUTPUT_CAP = 64 * 1024


class StudentCodeError(Exception):
    """Student code failed: ``status`` (a :class:`CellStatus`) and a message for the student.

    ``str(err)`` is the message ("Conv2d.backward ran past the 10 s limit", "Affine.forward
    raised ValueError: ..."); ``traceback`` the lines of the student's cells it came from.
    """

    def __init__(self, status: CellStatus, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.traceback = status, message, traceback


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _rewarn(caught: Any) -> None:
    """The warnings student code raised in a call, raised again here (as module ``sandbox``):
    a built-in category as itself, any other as a UserWarning naming it."""
    if type(caught) is not list:
        return
    for item in caught[:20]:
        if type(item) is not list or len(item) != 2 or not all(type(t) is str for t in item):
            continue
        name, message = protocol.clean_text(item[0][:100]), protocol.clean_text(item[1][:500])
        category = getattr(builtins, name, None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category, message = UserWarning, f"{name}: {message}"
        warnings.warn_explicit(message, category, "<sandbox>", 0, module="sandbox")


class Sandbox:
    """A submission's notebook, run in a sandbox; its names reached through :class:`Remote`.

    Parameters
    ----------
    notebook : path of the submission (.ipynb); only this file enters the sandbox.
    limits : :class:`Limits` (default: 30 s a cell, 10 s a call, 90 s a submission, 2 GiB).
    isolation : :class:`Isolation` or its value; ``BWRAP`` raises
        :class:`SandboxUnavailable` where bubblewrap cannot run, ``NONE`` is no sandbox at all.

    Use it as a context manager, from one thread: ``close()`` kills whatever is left.
    """

    def __init__(self, notebook: str | os.PathLike, limits: launch.Limits | None = None,
                 isolation: launch.Isolation | str = launch.Isolation.BWRAP) -> None:
        self.path = Path(notebook)
        self.limits = limits if limits is not None else launch.Limits()
        if not isinstance(self.limits, launch.Limits):
            raise TypeError(f"limits must be a Limits, got {type(self.limits).__name__}")
        self.isolation = launch.Isolation(isolation)
        if self.isolation is launch.Isolation.BWRAP:
            ok, why = launch.bwrap_status()
            if not ok:
                raise launch.SandboxUnavailable(
                    f"cannot sandbox student code: {why}. To grade without a sandbox anyway "
                    "(unsafe: student code can then read and write what the grader can), pass "
                    "isolation=Isolation.NONE / --unsafe-no-sandbox.")
        self.cells = read_cells(self.path)  # ValueError when it is not a notebook
        self.results: dict[int, CellResult] = {}
        self._child: Child | None = None
        self._generation = 0
        self._lost = (CellStatus.CRASHED, "")
        self._deadline: float | None = None
        self._next_id = 0
        self._replaying = False
        self._mirrored: weakref.WeakSet[Remote] = weakref.WeakSet()  # remotes with mirrors
        self._lock = threading.RLock()
        fd, self._log = tempfile.mkstemp(prefix="gradcheck-sandbox-", suffix=".log")
        os.close(fd)
        weakref.finalize(self, _unlink, self._log)  # also when it is never closed
        self._closed = False

    # --- public --------------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def protections(self) -> tuple[str, ...]:
        """What protects the grader from this submission, each ``...: on`` or ``...: OFF``."""
        return launch.protections(self.isolation, self.limits)

    @property
    def student_output(self) -> str:
        """What the submission's code printed (stdout and stderr), at most 64 KB of it."""
        try:
            with open(self._log, "rb") as f:
                data = f.read(_OUTPUT_CAP + 1)
        except OSError:
            return ""
        text = data[:_OUTPUT_CAP].decode("utf-8", errors="replace")
        return text + ("\n[... output cut]" if len(data) > _OUTPUT_CAP else "")

    def start(self) -> Sandbox:
        """Start the sandbox now (it starts by itself on first use): the runner ready, numpy
        and gradcheck_edu imported, no cell run yet. Returns the sandbox."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox is closed")
            self._ensure_started()
        return self

    def run_cells(self) -> list[CellResult]:
        """Run every code cell (once: later calls return the same results)."""
        with self._lock:
            for cell in self.cells:
                if cell.index not in self.results:
                    self.results[cell.index] = self._run_cell(cell)
            return [self.results[c.index] for c in self.cells]

    def get(self, name: str) -> Any:
        """The value of a top-level name of the notebook: data, or a :class:`Remote`.

        Raises :class:`StudentCodeError` when it is not defined, naming the failed cell that
        would have defined it.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"not a name: {name!r}")
        with self._lock:
            return self._get(name)

    def _get(self, name: str) -> Any:
        self.run_cells()
        try:
            return self._value(self._request({"op": "get", "name": name}, [],
                                             self.limits.call_seconds, f"reading {name}"),
                               origin=name)
        except StudentCodeError as err:
            if err.status is not CellStatus.ERROR or not err.message.startswith(
                    f"reading {name} raised NameError"):
                raise
            failed = [self.results[c.index] for c in self.cells if name in c.defines
                      and not self.results[c.index].ok]
            if failed:
                raise StudentCodeError(failed[-1].status,
                                       f"{name} is not defined: {failed[-1].message}") from None
            raise StudentCodeError(CellStatus.ERROR,
                                   f"{name} is not defined in the notebook") from None

    def close(self) -> None:
        """Kill the sandbox (all its processes) and remove its files."""
        with self._lock:
            self._kill()
            self._closed = True
            _unlink(self._log)

    # --- used by Remote ------------------------------------------------------------------------
    def remote_getattr(self, remote: Remote, name: str) -> Any:
        reply = self.remote_request(remote, {"op": "getattr", "name": name}, raw=True,
                                    what=f"{remote._r_label}.{name}")
        if reply[0].get("missing") is True:  # so that getattr(remote, name, default) works
            raise AttributeError(f"{remote._r_label} has no attribute {name!r}")
        if reply[0].get("method") is True:
            method = RemoteMethod(remote, name)
            remote._r_methods[name] = method
            return method
        value = remote._r_mirror(name, self._value(reply))
        if remote._r_mirrors:
            self._mirrored.add(remote)
        return value

    def remote_call(self, remote: Remote, method: str | None, args: tuple, kwargs: dict) -> Any:
        what = f"{remote._r_label}.{method}" if method else f"{remote._r_label}(...)"
        if not all(isinstance(k, str) for k in kwargs):
            raise TypeError("keyword argument names must be strings")
        return self.remote_request(remote, {"op": "call", "method": method}, args=list(args),
                                   kwargs=dict(kwargs), what=what)

    def remote_request(self, remote: Remote, header: dict, what: str, raw: bool = False,
                       **values: Any) -> Any:
        with self._lock:
            remote = self._current(remote)
            blobs: list[bytes] = []
            header = dict(header, h=remote._r_id)
            for key, value in values.items():
                header[key] = protocol.encode(value, blobs, self._outgoing)
            reply = self._request(header, blobs, self.limits.call_seconds, what)
            return reply if raw else self._value(reply)

    # --- internals -----------------------------------------------------------------------------
    def _current(self, remote: Remote) -> Remote:
        if remote._r_sandbox is not self:
            raise ValueError("this remote object belongs to another sandbox")
        if remote._r_generation == self._generation:
            return remote
        if remote._r_origin is not None:  # a notebook name: look it up in the new process
            fresh = self.get(remote._r_origin)
            if isinstance(fresh, Remote):
                for slot in ("_r_id", "_r_generation"):
                    object.__setattr__(remote, slot, getattr(fresh, slot))
                return remote
        status, why = self._lost
        raise StudentCodeError(status, f"{remote._r_label} was lost when the sandbox was "
                                       f"restarted after: {why}")

    def _outgoing(self, value: Any) -> dict:
        if isinstance(value, Remote):
            return {"$": "handle", "id": self._current(value)._r_id}
        name = protocol.ref_name(value)
        if name is not None:
            return {"$": "ref", "name": name}
        raise TypeError(f"cannot send a {type(value).__name__} into the sandbox: only data "
                        "(numbers, strings, arrays, lists/tuples/dicts of them), objects of the "
                        "sandbox, and functions of numpy or gradcheck_edu")

    def _incoming(self, node: dict) -> Remote:
        h, name, call = node.get("id"), node.get("type"), node.get("call")
        if type(h) is not int or type(name) is not str or type(call) is not bool:
            raise protocol.ProtocolError("a malformed handle")
        name = "".join(c for c in name[:100] if c.isprintable()) or "object"
        return remote_class(name, call)(self, h, self._generation, name)

    def _value(self, reply: tuple[dict, list[bytes]], origin: str | None = None) -> Any:
        header, blobs = reply
        try:
            value = protocol.decode(header.get("value"), blobs, self._incoming)
        except protocol.ProtocolError as err:  # a forged reply: the channel cannot be trusted
            message = f"the sandbox sent a value that is not data ({err})"
            self._lose(CellStatus.CRASHED, message)
            raise StudentCodeError(CellStatus.CRASHED, message) from None
        if origin is not None and isinstance(value, Remote):
            object.__setattr__(value, "_r_origin", origin)
            object.__setattr__(value, "_r_label", origin)
        return value

    def _run_cell(self, cell) -> CellResult:
        label = cell.label
        try:
            self._request({"op": "exec", "source": cell.source, "cell": cell.index}, [],
                          self.limits.cell_seconds, label)
        except StudentCodeError as err:
            message = err.message + (f"\n{err.traceback}" if err.traceback else "")
            return CellResult(cell.index, cell.defines, err.status, message)
        return CellResult(cell.index, cell.defines, CellStatus.OK)

    def _request(self, header: dict, blobs: list[bytes], seconds: float, what: str
                 ) -> tuple[dict, list[bytes]]:
        if self._closed:
            raise RuntimeError("the sandbox is closed")
        if self._deadline is not None and self._deadline <= time.monotonic():
            raise StudentCodeError(CellStatus.TIMEOUT, self._over_budget(what))
        self._ensure_started()
        budget = self._deadline - time.monotonic()
        if budget <= 0:
            raise StudentCodeError(CellStatus.TIMEOUT, self._over_budget(what))
        self._next_id += 1
        header["id"] = self._next_id
        limit_is_submission = budget < seconds
        deadline = time.monotonic() + min(seconds, budget)
        live = mirrors_out(self._mirrored, self._generation, header, blobs)
        try:
            reply, reply_blobs = self._child.exchange(header, blobs, deadline)
            mirrors_in(reply.get("pulled"), live,
                       lambda tree: protocol.decode(tree, reply_blobs, self._incoming))
        except TimeoutError:
            message = (self._over_budget(what) if limit_is_submission else
                       f"{what} ran past the {seconds:g} s limit")
            self._lose(CellStatus.TIMEOUT, message)
            raise StudentCodeError(CellStatus.TIMEOUT, message) from None
        except (EOFError, OSError):
            status, message = death(self._child.exit_code(), what, self.limits.memory_mb)
            self._lose(status, message)
            raise StudentCodeError(status, message) from None
        except protocol.ProtocolError as err:
            message = f"the sandbox's channel was garbled while running {what} ({err})"
            self._lose(CellStatus.CRASHED, message)
            raise StudentCodeError(CellStatus.CRASHED, message) from None
        except BaseException:  # Ctrl-C here: a reply may still be on its way, so start afresh
            self._lose(CellStatus.CRASHED, f"grading was interrupted while running {what}")
            raise
        _rewarn(reply.get("warnings"))
        if not reply["ok"]:
            raise self._student_error(reply.get("error"), what)
        return reply, reply_blobs

    def _student_error(self, error: Any, what: str) -> StudentCodeError:
        error = error if type(error) is dict else {}
        kind, text, tb = (protocol.clean_text(error[k]) if type(error.get(k)) is str else d
                          for k, d in (("type", "Exception"), ("message", ""), ("traceback", "")))
        described = f"{kind[:100]}: {text[:4000]}" if text else kind[:100]
        if error.get("memory") is True:
            return StudentCodeError(CellStatus.MEMORY, f"{what} ran out of memory (the limit "
                                    f"is {self.limits.memory_mb} MB): {described}", tb[:4000])
        return StudentCodeError(CellStatus.ERROR, f"{what} raised {described}", tb[:4000])

    def _over_budget(self, what: str) -> str:
        return (f"the submission's code ran past its {self.limits.submission_seconds:g} s "
                f"limit (at {what})")

    def _lose(self, status: CellStatus, message: str) -> None:
        self._kill()
        self._lost = (status, message)

    def _kill(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            self._generation += 1
            child.kill()

    def _ensure_started(self) -> None:
        if self._child is not None:
            return
        self._start()
        if self._deadline is None:  # from the first start on (the start itself is ours)
            self._deadline = time.monotonic() + self.limits.submission_seconds
        if self._replaying:
            return
        # a restart: the cells that ran before run again (the failed ones stay failed); a cell
        # that now kills the process is marked failed and the replay starts over without it
        self._replaying = True
        try:
            again = True
            while again:
                again = False
                for cell in self.cells:
                    result = self.results.get(cell.index)
                    if result is None or not result.ok:
                        continue
                    rerun = self._run_cell(cell)
                    if not rerun.ok:
                        self.results[cell.index] = rerun
                    if self._child is None:
                        if time.monotonic() >= self._deadline:
                            return
                        self._start()
                        again = True
                        break
        finally:
            self._replaying = False

    def _start(self) -> None:
        self._child = Child(self.isolation, self.limits, self.path, self._log)
