"""The program inside the sandbox: runs a submission's cells, then serves calls into them.

Started by :mod:`~gradcheck_edu.sandbox.launch` as ``python -I -c "...; main()"`` with the two
file descriptors of its channel. It sets its own rlimits before anything else runs, installs a
stub ``otter`` module (``grader.check`` does nothing here: the grade is decided elsewhere), then
answers one request at a time (:mod:`~gradcheck_edu.sandbox.protocol` frames): ``exec`` a cell,
``get`` a name, ``getattr``/``setattr``/``getitem``/``setitem``/``len``/``iter``/``copy`` on a
handle, ``call`` a handle or one of its methods. What is not data goes back as a handle (an
index into this process's table of objects), so no student object ever leaves the sandbox.

Every ``BaseException`` of student code (``SystemExit`` and ``KeyboardInterrupt`` too) becomes an
error reply with the exception's type and message and a traceback of the student's cells only.
The runner trusts nothing either: student code can write to the channel or replace this
module's functions; the grading process treats whatever arrives as untrusted data.
"""

from __future__ import annotations

import builtins
import copy
import os
import resource
import signal
import sys
import traceback
import types
import warnings
from typing import Any

__all__ = ["main", "Server"]

CELL_PREFIX = "<cell "
_MAX_MESSAGE = 4000
_MAX_ITER = 100_000
_MAX_WARNINGS = 20
_FUNCTIONS = (types.MethodType, types.FunctionType, types.BuiltinFunctionType,
              types.BuiltinMethodType, types.MethodWrapperType)


def _limit(which: int, value: int) -> None:
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):  # a hard limit already lower: keep it
        pass


def _otter_stub() -> types.ModuleType:
    """A module ``otter`` whose ``Notebook(...)`` accepts and ignores every call."""

    class Notebook:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return lambda *args, **kwargs: None

    module = types.ModuleType("otter", "stand-in for otter-grader inside the sandbox")
    module.Notebook = Notebook
    return module


def _text(value: Any) -> str:
    try:
        text = str(value)
    except BaseException:  # noqa: BLE001  a student's __str__ that raises
        text = "<no message>"
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " [...]"


def describe(err: BaseException) -> dict:
    """The error reply for an exception of student code: type, message, student frames."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if f.filename.startswith(CELL_PREFIX)]
    tb = "".join(traceback.format_list(frames))
    name = type(err).__name__
    return {"type": name if isinstance(name, str) else "Exception", "message": _text(err),
            "traceback": tb[-_MAX_MESSAGE:], "memory": isinstance(err, MemoryError)}


class Server:
    """The request loop, with the namespace of the notebook and the table of handles."""

    def __init__(self, fd_in: int, fd_out: int) -> None:
        from . import protocol

        self.protocol = protocol
        self.fd_in, self.fd_out = fd_in, fd_out
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle, while the object is in the table
        self.next_id = 1
        self.last_id: Any = None

    # values <-> JSON
    def handle(self, value: Any) -> dict:
        key = id(value)
        h = self.ids.get(key)
        if h is None or self.objects.get(h) is not value:
            h, self.next_id = self.next_id, self.next_id + 1
            self.objects[h], self.ids[key] = value, h
        try:
            name = type(value).__name__
            call = callable(value)
        except BaseException:  # noqa: BLE001  a metaclass that raises
            name, call = "object", False
        return {"$": "handle", "id": h, "type": str(name)[:100], "call": bool(call)}

    def encode(self, value: Any, blobs: list[bytes]) -> Any:
        return self.protocol.encode(value, blobs, self.handle, _plain)

    def lookup(self, node: dict) -> Any:
        h = node.get("id")
        if h not in self.objects:
            raise self.protocol.ProtocolError(f"no object with handle {h!r}")
        return self.objects[h]

    def decode(self, tree: Any, blobs: list[bytes]) -> Any:
        return self.protocol.decode(tree, blobs, self.lookup, self.protocol.resolve_ref)

    # the loop
    def serve(self) -> None:
        self.reply({"op": "ready"}, [])
        while True:
            try:
                header, blobs = self.protocol.recv(self.fd_in)
            except EOFError:
                return
            self.answer(header, blobs)

    def reply(self, header: dict, blobs: list[bytes]) -> None:
        self.protocol.send(self.fd_out, header, blobs)

    def answer(self, header: dict, blobs: list[bytes]) -> None:
        """One request: the mirrors pushed in, the operation, the changed mirrors pulled out.

        ``push``: {handle: {attr: value}}, the grading side's mirrors that changed there;
        ``pull``: {handle: [attr, ...]}, every mirror it holds. Of these, the reply carries
        those the operation changed (compared byte for byte), even when it failed.
        """
        self.last_id = header.get("id")
        out: list[bytes] = []
        target, result, error, before, caught = None, {}, None, {}, []
        try:
            self.push(header.get("push"), blobs)
            before = self.fingerprints(header.get("pull"))
            if "h" in header:
                target = self.lookup({"id": header["h"]})
            if header.get("op") == "exec":  # a cell's warnings go to its output, as in Jupyter
                result = self.dispatch(header, target, blobs, out)
            else:  # a call's come back with the reply, for the grading side's feedback
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = self.dispatch(header, target, blobs, out)
        except BaseException as err:  # noqa: BLE001  student code: any exception is a reply
            error, out = describe(err), []
            del err
        mark = len(out)
        try:
            pulled = self.pull(before, out)
        except BaseException:  # noqa: BLE001  a property that raises: no mirror update
            pulled, out = {}, out[:mark]
        _flush()
        reply = {"id": header.get("id"), "ok": error is None, "pulled": pulled,
                 "warnings": [[_text(getattr(w.category, "__name__", "Warning"))[:100],
                               _text(w.message)[:500]] for w in caught[:_MAX_WARNINGS]]}
        reply.update(result if error is None else {"error": error})
        try:
            self.reply(reply, out)
        except self.protocol.ProtocolError as err:  # a value past the size caps
            self.reply({"id": header.get("id"), "ok": False, "pulled": {}, "error": {
                "type": "ValueError", "message": f"the value cannot be sent back: {err}",
                "traceback": "", "memory": False}}, [])

    def objects_of(self, per_handle: Any) -> list[tuple[str, Any, Any]]:
        """(handle key, object, its entry) for each known handle of a ``push``/``pull``."""
        if type(per_handle) is not dict:
            return []
        found = []
        for key, entry in per_handle.items():
            h = int(key) if isinstance(key, str) and key.isdigit() else None
            if h in self.objects:
                found.append((key, self.objects[h], entry))
        return found

    def push(self, push: Any, blobs: list[bytes]) -> None:
        """Copy the grading side's mirrors (``layer.params`` ...) into the objects, in place."""
        import numpy as np

        for _, target, attrs in self.objects_of(push):
            for attr, tree in (attrs.items() if type(attrs) is dict else ()):
                value = self.decode(tree, blobs)
                current = getattr(target, str(attr), None)
                if isinstance(value, dict) and isinstance(current, dict):
                    for k in [k for k in current if k not in value]:
                        del current[k]
                    for k, v in value.items():
                        old = current.get(k)
                        if (isinstance(v, np.ndarray) and type(old) is np.ndarray
                                and old.shape == v.shape and old.dtype == v.dtype
                                and old.flags.writeable):
                            np.copyto(old, v)
                        else:
                            current[k] = v
                elif (isinstance(value, np.ndarray) and type(current) is np.ndarray
                      and current.shape == value.shape and current.dtype == value.dtype
                      and current.flags.writeable):
                    np.copyto(current, value)
                else:
                    setattr(target, str(attr), value)

    def fingerprints(self, pull: Any) -> list[tuple[str, Any, str, Any]]:
        return [(key, target, attr, _fingerprint(getattr(target, attr, None)))
                for key, target, attrs in self.objects_of(pull)
                for attr in (attrs if type(attrs) is list else ()) if isinstance(attr, str)]

    def pull(self, before: list, out: list[bytes]) -> dict:
        pulled: dict = {}
        for key, target, attr, fp in before:
            value = getattr(target, attr, None)
            if fp is None or _fingerprint(value) != fp:
                pulled.setdefault(key, {})[attr] = self.encode(value, out)
        return pulled

    def dispatch(self, header: dict, target: Any, blobs: list[bytes], out: list[bytes]) -> dict:
        op = header.get("op")
        if op == "exec":
            code = compile(str(header["source"]), f"{CELL_PREFIX}{header.get('cell')}>", "exec")
            exec(code, self.namespace)  # noqa: S102  the submission's cell, in the sandbox
            return {}
        if op == "get":
            name = str(header["name"])
            if name not in self.namespace:
                raise NameError(f"name {name!r} is not defined")
            return {"value": self.encode(self.namespace[name], out)}
        if op == "getattr":
            try:
                value = getattr(target, str(header["name"]))
            except AttributeError:  # as Python's getattr(obj, name, default) sees it
                return {"missing": True}
            if isinstance(value, _FUNCTIONS):
                return {"method": True}
            return {"value": self.encode(value, out)}
        if op == "setattr":
            setattr(target, str(header["name"]), self.decode(header["value"], blobs))
            return {}
        if op == "call":
            args = self.decode(header.get("args", {"$": "list", "v": []}), blobs)
            kwargs = self.decode(header.get("kwargs", {"$": "dict", "v": []}), blobs)
            if type(args) is not list or type(kwargs) is not dict:
                raise TypeError("call arguments must be a list and a dict")
            method = header.get("method")
            func = target if method is None else getattr(target, str(method))
            return {"value": self.encode(func(*args, **kwargs), out)}
        if op == "getitem":
            return {"value": self.encode(target[self.decode(header["key"], blobs)], out)}
        if op == "setitem":
            target[self.decode(header["key"], blobs)] = self.decode(header["value"], blobs)
            return {}
        if op == "len":
            return {"value": int(len(target))}
        if op == "iter":
            items = []
            for item in target:
                items.append(item)
                if len(items) > _MAX_ITER:
                    raise ValueError(f"more than {_MAX_ITER} items")
            return {"value": self.encode(items, out)}
        if op == "copy":
            twin = copy.deepcopy(target) if header.get("deep") else copy.copy(target)
            return {"value": self.encode(twin, out)}
        if op == "ping":
            return {}
        raise ValueError(f"unknown request {op!r}")


_PLAIN = (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)


def _plain(value: Any) -> Any:
    """A subclass of a built-in type (a namedtuple, an OrderedDict, an IntEnum) or of ndarray
    (np.matrix) as its plain base, so that it crosses as data, not as a handle."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return np.asarray(value) if value.dtype.kind in "biufcSU" else value
    for base in _PLAIN:
        if isinstance(value, base):
            return base(value)
    return value


def _fingerprint(value: Any) -> Any:
    """The bytes of an array or a dict of arrays (None for anything else: always sent)."""
    import numpy as np

    if type(value) is np.ndarray:
        return (value.dtype.str, value.shape, value.tobytes())
    if type(value) is dict and all(type(v) is np.ndarray for v in value.values()):
        return [(k, v.dtype.str, v.shape, v.tobytes()) for k, v in value.items()]
    return None


def _display(*objs: Any, **kwargs: Any) -> None:
    """IPython's ``display``, as text."""
    for obj in objs:
        print(repr(obj))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001  a student's replacement stream
            pass


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``--in FD --out FD --memory BYTES --file-size BYTES --processes N``."""
    argv = sys.argv[1:] if argv is None else argv
    opts = dict(zip(argv[::2], argv[1::2]))
    fd_in, fd_out = int(opts["--in"]), int(opts["--out"])
    _limit(resource.RLIMIT_CORE, 0)
    if "--file-size" in opts:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error on write, not a dead process
        _limit(resource.RLIMIT_FSIZE, int(opts["--file-size"]))
    if "--memory" in opts:
        _limit(resource.RLIMIT_AS, int(opts["--memory"]))
    if "--processes" in opts:  # counted in the sandbox's user namespace (not for root)
        _limit(resource.RLIMIT_NPROC, int(opts["--processes"]))
    for fd in (fd_in, fd_out):
        os.set_inheritable(fd, False)  # never passed on to what student code starts
    import numpy  # noqa: F401  loaded before the first cell: every submission needs it

    sys.modules["otter"] = _otter_stub()
    server = Server(fd_in, fd_out)
    server.namespace["grader"] = sys.modules["otter"].Notebook()
    server.namespace["display"] = _display
    sys.argv = ["notebook"]
    server.serve()
