"""The wire between the grading process and the sandbox: frames of JSON and ``.npy`` bytes.

A frame is ``MAGIC``, the header's length and the total payload's length (two unsigned 32-bit
big-endian ints), the header (UTF-8 JSON), then the payload: the blobs the header points to,
one after the other (``header["blobs"]`` holds their lengths). Nothing is pickled: an array is
its raw C-ordered bytes, with its dtype string and shape in the JSON (what a ``.npy`` file
holds, read back by ``np.frombuffer`` after checking both; object and record dtypes are
refused), and everything else is a JSON tree of tagged values:

==========================  =============================================================
Python value                JSON
==========================  =============================================================
None, bool, int, float, str themselves (NaN and infinities as JSON's ``NaN``/``Infinity``)
list, tuple, dict, set      ``{"$": "list" | "tuple" | "set", "v": [...]}``,
                            ``{"$": "dict", "v": [[key, value], ...]}``
complex, bytes              ``{"$": "complex", "v": [re, im]}``, ``{"$": "bytes", "i": n}``
ndarray, NumPy scalar       ``{"$": "nd" | "np", "i": n, "dtype": "<f8", "shape": [2, 3]}``
``...``, slice              ``{"$": "ellipsis"}``, ``{"$": "slice", "v": [start, stop, step]}``
anything else               ``{"$": "handle", "id": n, "type": "Affine", "call": true}``
library function            ``{"$": "ref", "name": "numpy:sum"}`` (only numpy, gradcheck_edu)
==========================  =============================================================

Only exact built-in types count as data (a student's ``dict`` subclass is a handle), so
decoding never runs code of the side that sent it. The decoder checks every tag, size and
nesting depth, and raises :class:`ProtocolError` on anything else.
"""

from __future__ import annotations

import functools
import json
import math
import os
import select
import struct
import time
from typing import Any, Callable

import numpy as np

__all__ = ["ProtocolError", "send", "recv", "encode", "decode", "clean_text", "MAX_HEADER",
           "MAX_PAYLOAD", "MAX_DEPTH", "REF_ROOTS", "ref_name", "resolve_ref"]

MAGIC = b"GEsb"
_PREFIX = struct.Struct(">4sII")
MAX_HEADER = 16 * 2**20  # bytes of JSON in one frame
MAX_PAYLOAD = 256 * 2**20  # bytes of arrays in one frame
MAX_DEPTH = 64  # nesting of lists/dicts
MAX_ITEMS = 1_000_000  # values in one frame
REF_ROOTS = ("numpy", "gradcheck_edu")  # the only modules a library reference may name
_DTYPE_KINDS = "biufcSU"  # numbers, bools, strings: not "O" (objects), not "V" (records)
_SCALARS = (bool, int, float, str, type(None))


class ProtocolError(Exception):
    """A frame that is not well-formed data: garbage, a forged tag, a size past the caps."""


# --- frames -----------------------------------------------------------------------------------

def send(fd: int, header: dict, blobs: list[bytes], deadline: float | None = None) -> None:
    """Write one frame to the file descriptor ``fd``.

    With a ``deadline`` (a ``time.monotonic()`` value; ``fd`` then non-blocking) a reader that
    stops reading makes it raise ``TimeoutError`` instead of blocking for ever.
    """
    header = dict(header, blobs=[len(b) for b in blobs])
    head = json.dumps(header, separators=(",", ":")).encode()
    payload = sum(len(b) for b in blobs)
    if len(head) > MAX_HEADER or payload > MAX_PAYLOAD:
        raise ProtocolError(f"message too large ({len(head)} bytes of header, {payload} of "
                            f"arrays; the limits are {MAX_HEADER} and {MAX_PAYLOAD})")
    data = b"".join([_PREFIX.pack(MAGIC, len(head), payload), head, *blobs])
    view = memoryview(data)
    while view:
        if deadline is not None:
            _wait(fd, select.POLLOUT, deadline)
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[n:]


def _wait(fd: int, event: int, deadline: float) -> None:
    """Until ``fd`` is ready (or closed at the other end); TimeoutError past ``deadline``."""
    poller = select.poll()
    poller.register(fd, event)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if poller.poll(max(1, int(left * 1000))):
            return


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(n - got, 1 << 24))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(fd: int, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """Read one frame: ``(header, blobs)``.

    Raises ``TimeoutError`` past ``deadline`` (a ``time.monotonic()`` value; None waits for
    ever), ``EOFError`` when the other end closed, :class:`ProtocolError` on anything that is
    not a well-formed frame.
    """
    magic, n_head, n_payload = _PREFIX.unpack(_read_exact(fd, _PREFIX.size, deadline))
    if magic != MAGIC or n_head > MAX_HEADER or n_payload > MAX_PAYLOAD:
        raise ProtocolError("not a frame of the sandbox protocol (bad magic or size)")
    body = _read_exact(fd, n_head + n_payload, deadline)
    try:
        header = json.loads(body[:n_head])
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError(f"the header is not JSON: {err}") from None
    if not isinstance(header, dict):
        raise ProtocolError("the header is not a JSON object")
    sizes = header.get("blobs")
    if (not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes)
            or sum(sizes) != n_payload):
        raise ProtocolError("the header's blob sizes do not match the payload")
    payload = memoryview(body)[n_head:]
    blobs, at = [], 0
    for s in sizes:
        blobs.append(payload[at:at + s])
        at += s
    return header, blobs


# --- values -----------------------------------------------------------------------------------

def _raw(value: np.ndarray | np.generic) -> tuple[bytes, dict]:
    arr = np.asarray(value)
    return arr.tobytes(order="C"), {"dtype": arr.dtype.str, "shape": list(arr.shape)}


def _is_plain_array(value: Any) -> bool:
    return type(value) is np.ndarray and value.dtype.kind in _DTYPE_KINDS \
        and value.dtype.fields is None


def _is_numpy_scalar(value: Any) -> bool:
    return (isinstance(value, np.generic) and type(value).__module__ == "numpy"
            and value.dtype.kind in _DTYPE_KINDS and value.dtype.fields is None)


def encode(value: Any, blobs: list[bytes], other: Callable[[Any], dict] | None = None,
           coerce: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as a JSON tree, its arrays appended to ``blobs``.

    ``other(value)`` gives the JSON of anything that is not data (a handle, a reference); with
    ``other=None`` such a value raises ``TypeError``. ``coerce(value)``, tried first on what is
    not data, may return a plain equivalent (a tuple for a namedtuple) to send instead.
    """

    size = [sum(len(b) for b in blobs)]

    def blob(data_bytes: int) -> None:  # checked before an array is copied into a blob
        size[0] += data_bytes
        if size[0] > MAX_PAYLOAD:
            raise ProtocolError(f"message too large (more than {MAX_PAYLOAD} bytes of arrays)")

    def walk(value: Any, depth: int) -> Any:
        t = type(value)
        if t in _SCALARS:
            return value
        if depth > MAX_DEPTH:
            raise ProtocolError(f"data nested deeper than {MAX_DEPTH} levels")
        if t in (list, tuple, set, frozenset):
            tag = {list: "list", tuple: "tuple", set: "set", frozenset: "set"}[t]
            return {"$": tag, "v": [walk(v, depth + 1) for v in value]}
        if t is dict:
            return {"$": "dict", "v": [[walk(k, depth + 1), walk(v, depth + 1)]
                                       for k, v in value.items()]}
        if t is complex:
            return {"$": "complex", "v": [value.real, value.imag]}
        if t is bytes:
            blob(len(value))
            blobs.append(value)
            return {"$": "bytes", "i": len(blobs) - 1}
        if _is_plain_array(value) or _is_numpy_scalar(value):
            blob(value.nbytes)
            raw, meta = _raw(value)
            blobs.append(raw)
            return {"$": "nd" if t is np.ndarray else "np", "i": len(blobs) - 1, **meta}
        if value is Ellipsis:
            return {"$": "ellipsis"}
        if t is slice:
            return {"$": "slice", "v": [walk(v, depth + 1)
                                        for v in (value.start, value.stop, value.step)]}
        if coerce is not None:
            plain = coerce(value)
            if plain is not value:
                return walk(plain, depth + 1)
        if other is None:
            raise TypeError(f"a {t.__name__} is not data that can be sent")
        return other(value)

    return walk(value, 0)


def _load_array(node: dict, blobs: list[bytes]) -> np.ndarray:
    """A fresh, writeable array from its raw bytes, dtype and shape (checked, never code)."""
    dtype, shape = node.get("dtype"), node.get("shape")
    if type(dtype) is not str or len(dtype) > 16 or type(shape) is not list or len(shape) > 32 \
            or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
        raise ProtocolError("an array without a valid dtype and shape")
    dt = _dtype(dtype)
    blob = blobs[node["i"]]
    if len(blob) != math.prod(shape) * dt.itemsize:
        raise ProtocolError("an array whose bytes do not match its shape")
    return np.frombuffer(blob, dtype=dt).reshape(shape).copy()


def decode(tree: Any, blobs: list[bytes], handle: Callable[[dict], Any] | None = None,
           ref: Callable[[str], Any] | None = None) -> Any:
    """The value of a JSON tree made by :func:`encode` (``handle``/``ref`` build the others)."""
    count = [0]

    def walk(node: Any, depth: int) -> Any:
        count[0] += 1
        if count[0] > MAX_ITEMS or depth > MAX_DEPTH + 1:
            raise ProtocolError("data too large or too deeply nested")
        if type(node) is str:
            return node if node.isascii() else clean_text(node)
        if node is None or type(node) in (bool, int, float):
            return node
        if type(node) is not dict or type(node.get("$")) is not str:
            raise ProtocolError(f"not a tagged value: {str(node)[:80]}")
        tag = node["$"]
        if tag in ("list", "tuple", "set", "dict", "complex", "slice"):
            items = node.get("v")
            if type(items) is not list:
                raise ProtocolError(f"a {tag} without its items")
        if tag in ("nd", "np", "bytes"):
            i = node.get("i")
            if type(i) is not int or not 0 <= i < len(blobs):
                raise ProtocolError(f"a {tag} pointing at no blob")
        if tag == "list":
            return [walk(v, depth + 1) for v in items]
        if tag == "tuple":
            return tuple(walk(v, depth + 1) for v in items)
        if tag == "set":
            return {_hashable(walk(v, depth + 1)) for v in items}
        if tag == "dict":
            out = {}
            for pair in items:
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("a dict item that is not a pair")
                out[_hashable(walk(pair[0], depth + 1))] = walk(pair[1], depth + 1)
            return out
        if tag == "complex":
            if len(items) != 2 or not all(type(v) in (int, float) for v in items):
                raise ProtocolError("a complex that is not two numbers")
            return complex(items[0], items[1])
        if tag == "bytes":
            return bytes(blobs[node["i"]])
        if tag == "nd":
            return _load_array(node, blobs)
        if tag == "np":
            arr = _load_array(node, blobs)
            if arr.shape != ():
                raise ProtocolError("a NumPy scalar that is not 0-dimensional")
            return arr[()]
        if tag == "ellipsis":
            return Ellipsis
        if tag == "slice":
            if len(items) != 3:
                raise ProtocolError("a slice that is not (start, stop, step)")
            return slice(*(walk(v, depth + 1) for v in items))
        if tag == "handle" and handle is not None:
            return handle(node)
        if tag == "ref" and ref is not None and type(node.get("name")) is str:
            return ref(node["name"])
        raise ProtocolError(f"an unknown or unexpected tag {tag[:40]!r}")

    return walk(tree, 0)


def clean_text(text: str) -> str:
    """The text as valid Unicode (a lone surrogate, which no file can hold, becomes U+FFFD)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text


@functools.lru_cache(maxsize=256)
def _dtype(name: str) -> np.dtype:
    try:
        dt = np.dtype(name)
    except (TypeError, ValueError):
        raise ProtocolError(f"an array of an unknown dtype {name!r}") from None
    if dt.kind not in _DTYPE_KINDS or dt.fields is not None or dt.hasobject:
        raise ProtocolError(f"an array of dtype {name!r} (refused: only numbers, bools and "
                            "strings)")
    return dt


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise ProtocolError("an unhashable dict key or set item") from None
    return key


# --- library references -----------------------------------------------------------------------

def ref_name(value: Any) -> str | None:
    """``"module:qualname"`` for a function or class of NumPy or this package, else None.

    Only a name that leads back to the very same object counts (no lambdas, no closures).
    """
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if isinstance(value, np.ufunc) and module is None:  # NumPy < 2 ufuncs name no module
        module, qualname = "numpy", value.__name__
    if not (isinstance(module, str) and isinstance(qualname, str)) or "<" in qualname:
        return None
    if module.split(".")[0] not in REF_ROOTS:
        return None
    name = f"{module}:{qualname}"
    try:
        found = resolve_ref(name)
    except (ProtocolError, ImportError, AttributeError):
        return None
    return name if found is value else None


def resolve_ref(name: str) -> Any:
    """The object ``"module:qualname"`` names, for a module under :data:`REF_ROOTS` only."""
    import importlib

    module, _, qualname = name.partition(":")
    if module.split(".")[0] not in REF_ROOTS or not qualname or not all(
            part.isidentifier() for part in module.split(".") + qualname.split(".")):
        raise ProtocolError(f"a library reference outside {REF_ROOTS}: {name[:80]!r}")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
