"""Student code in a sandbox; the grade decided in a process that never ran it.

::

    from gradcheck_edu.sandbox import Sandbox, Limits, StudentCodeError, CellStatus, Isolation
    with Sandbox("sub.ipynb", limits=Limits(cell_seconds=30, call_seconds=10,
                 submission_seconds=90, memory_mb=2048), isolation=Isolation.BWRAP) as sb:
        cells = sb.run_cells()          # list[CellResult]: index, defines, status, message
        Affine = sb.get("Affine")       # a Remote (callable) or data; raises StudentCodeError
        layer = Affine(5, 3); out = layer.forward(x); layer.params["W"][0, 0] += 1e-6
        dx = layer.backward(dout); layer.grads   # dict of arrays, mirrored both ways
        sb.protections; sb.student_output

The modules: :mod:`~.launch` (the bubblewrap command line, :class:`Limits`, :class:`Isolation`),
:mod:`~.runner` (the program in the sandbox), :mod:`~.protocol` (frames of JSON and raw array
bytes; nothing is ever unpickled), :mod:`~.cells` (the notebook's code cells,
:class:`CellResult`), :mod:`~.process` (one child process: start, deadline, kill),
:mod:`~.remote` (:class:`Remote`: calls, attributes, mirrored ``params``/``grads``) and
:mod:`~.proxy` (:class:`Sandbox`: limits, kill and restart).

What it guarantees (each tested in ``tests/test_sandbox.py``): the child sees only ``/usr``
(and the loader's and fontconfig's files in ``/etc``), the Python install and the
``gradcheck_edu`` package (read-only) and a fresh working folder holding the submission (not
the repository, the autograder, the other submissions, the grader's ``/proc`` or environment);
no network; its own pid namespace (nothing it starts outlives it, nor the grader); limits on
each cell, each call, the whole submission, the address space, file sizes, disk and (when not
root) processes. A cell or call past its limit, a crash, ``os._exit`` or garbage on the channel
kills the sandbox, raises :class:`StudentCodeError` naming what happened, and the next request
starts a fresh one that re-runs the cells that had succeeded; memory exhaustion is a
``StudentCodeError`` with status ``MEMORY``, and ``SystemExit``/``KeyboardInterrupt`` are
errors of the call that raised them. Only data comes back: anything else is a :class:`Remote`
handle. Warnings raised in a call are raised again in the grading process (module
``sandbox``). Use a Sandbox from one thread at a time (bubblewrap dies with the thread that
started it).
"""

from .cells import CellResult, CellStatus
from .launch import Isolation, Limits, SandboxUnavailable, bwrap_status
from .proxy import Sandbox, StudentCodeError
from .remote import Remote, RemoteMethod

__all__ = ["Sandbox", "Limits", "StudentCodeError", "CellStatus", "CellResult", "Isolation",
           "Remote", "RemoteMethod", "SandboxUnavailable", "bwrap_status"]
