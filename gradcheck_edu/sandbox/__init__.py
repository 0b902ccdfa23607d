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
:mod:`~.runner` (the program in the sandbox), :mod:`~.protocol` (frames of JSON and ``.npy``;
nothing is ever unpickled), :mod:`~.cells` (the notebook's code cells, :class:`CellResult`),
:mod:`~.remote` (:class:`Remote`: calls, attributes, mirrored ``params``/``grads``) and
:mod:`~.proxy` (:class:`Sandbox`: limits, kill and restart).

Status: runs cells, gets names, calls Remote classes/functions/methods with arrays, mirrors
``params``/``grads`` both ways, deep-copies remote objects (``grade_layer`` works on a Remote),
kills and restarts on a cell or call past its limit, a crash, ``os._exit`` or garbage on the
channel (re-running the cells that had succeeded).
"""

from .cells import CellResult, CellStatus
from .launch import Isolation, Limits, SandboxUnavailable, bwrap_status
from .proxy import Sandbox, StudentCodeError
from .remote import Remote, RemoteMethod

__all__ = ["Sandbox", "Limits", "StudentCodeError", "CellStatus", "CellResult", "Isolation",
           "Remote", "RemoteMethod", "SandboxUnavailable", "bwrap_status"]
