"""The grading side's view of an object in the sandbox: :class:`Remote`.

A Remote stands for a class, function or object of the submission. Calling it, calling its
methods, reading its attributes and items send a request into the sandbox; what comes back is
data (copies: numbers, strings, arrays, lists and dicts of them) or another Remote. Nothing of
the student's code ever runs in the grading process.

So that the checks of :mod:`gradcheck_edu.model_check` and :mod:`gradcheck_edu.grading` work on
a Remote layer unchanged, an attribute that is an array or a dict of arrays (``layer.params``,
``layer.grads``) is *mirrored*: the first read fetches it, later reads return the same local
object, and around every request about the object the mirrors are synchronised. Before it, the
mirrors that changed locally (a check perturbs ``layer.params["W"][i, j]`` in place) are copied
into the sandbox's object, in place; after it, the object's current values are copied back into
the mirrors, in place (``np.copyto`` when shape and dtype match, else the dict entry replaced).
``copy.deepcopy(remote)`` copies the object in the sandbox, as :func:`grading.grade_layer` does.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Iterable

import numpy as np

from . import protocol

__all__ = ["Remote", "RemoteMethod", "remote_class", "is_mirrorable", "mirrors_out",
           "mirrors_in"]


def is_mirrorable(value: Any) -> bool:
    """An array, or a dict (str keys) of arrays: what a Remote keeps a local mirror of."""
    if type(value) is np.ndarray:
        return True
    return type(value) is dict and all(type(k) is str and type(v) is np.ndarray
                                       for k, v in value.items())


def _snapshot(value: Any) -> Any:
    if type(value) is np.ndarray:
        return value.copy()
    return {k: v.copy() if type(v) is np.ndarray else None for k, v in value.items()}


def _same(a: Any, b: Any) -> bool:
    """Bit for bit (so that -0.0 and NaN payloads count), shape and dtype too."""
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype == b.dtype
            and a.shape == b.shape and a.tobytes() == b.tobytes())


def changed(mirror: Any, snapshot: Any) -> bool:
    """Has the local mirror changed since it was last synchronised?"""
    if type(mirror) is np.ndarray:
        return not _same(mirror, snapshot)
    if type(mirror) is not dict or set(mirror) != set(snapshot):
        return True
    return not all(_same(v, snapshot[k]) for k, v in mirror.items())


def update_in_place(mirror: Any, value: Any) -> bool:
    """Copy ``value`` into ``mirror`` in place; False when it cannot be (drop the mirror)."""
    if type(mirror) is np.ndarray:
        if type(value) is np.ndarray and value.shape == mirror.shape and \
                value.dtype == mirror.dtype and mirror.flags.writeable:
            np.copyto(mirror, value)
            return True
        return False
    if not is_mirrorable(value) or type(value) is not dict:
        return False
    for k in [k for k in mirror if k not in value]:
        del mirror[k]
    for k, v in value.items():
        old = mirror.get(k)
        if (type(old) is np.ndarray and old.shape == v.shape and old.dtype == v.dtype
                and old.flags.writeable):
            np.copyto(old, v)
        else:
            mirror[k] = v
    return True


class Remote:
    """A class, function or object that lives in the sandbox (see the module's docstring).

    ``type(remote).__name__`` is the name of the object's type in the sandbox ("Affine"), so
    feedback names it as it would the real object. ``repr`` never runs student code.
    """

    __slots__ = ("_r_sandbox", "_r_id", "_r_generation", "_r_label", "_r_origin", "_r_mirrors",
                 "_r_methods", "__weakref__")

    def __init__(self, sandbox: Any, handle: int, generation: int, label: str,
                 origin: str | None = None) -> None:
        object.__setattr__(self, "_r_sandbox", sandbox)
        object.__setattr__(self, "_r_id", handle)
        object.__setattr__(self, "_r_generation", generation)
        object.__setattr__(self, "_r_label", label)
        object.__setattr__(self, "_r_origin", origin)  # a notebook name: found again on restart
        object.__setattr__(self, "_r_mirrors", {})  # attr -> [mirror, snapshot]
        object.__setattr__(self, "_r_methods", {})

    # --- what the sandbox uses --------------------------------------------------------------
    def _r_sync_out(self) -> dict:
        """The mirrors that changed locally since the last synchronisation (which, about to be
        sent, count as synchronised from now on)."""
        dirty = {a: entry[0] for a, entry in self._r_mirrors.items() if changed(*entry)}
        for a, m in dirty.items():
            self._r_mirrors[a][1] = _snapshot(m)
        return dirty

    def _r_sync_in(self, pulled: dict) -> None:
        for attr, value in pulled.items():
            entry = self._r_mirrors.get(attr)
            if entry is None:
                continue
            if update_in_place(entry[0], value):
                entry[1] = _snapshot(entry[0])
            else:
                del self._r_mirrors[attr]

    def _r_mirror(self, attr: str, value: Any) -> Any:
        if is_mirrorable(value):
            self._r_mirrors[attr] = [value, _snapshot(value)]
        return value

    # --- the object's protocol --------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__")) or name.startswith("_r_"):
            raise AttributeError(name)
        if name in self._r_mirrors:
            return self._r_mirrors[name][0]
        if name in self._r_methods:
            return self._r_methods[name]
        return self._r_sandbox.remote_getattr(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"cannot set {name} on a remote object")
        self._r_mirrors.pop(name, None)
        self._r_methods.pop(name, None)
        self._r_sandbox.remote_request(self, {"op": "setattr", "name": name}, value=value,
                                     what=f"setting {self._r_label}.{name}")

    def __getitem__(self, key: Any) -> Any:
        return self._r_sandbox.remote_request(self, {"op": "getitem"}, key=key,
                                            what=f"{self._r_label}[...]")

    def __setitem__(self, key: Any, value: Any) -> None:
        self._r_sandbox.remote_request(self, {"op": "setitem"}, key=key, value=value,
                                     what=f"{self._r_label}[...] = ...")

    def __len__(self) -> int:
        n = self._r_sandbox.remote_request(self, {"op": "len"}, what=f"len({self._r_label})")
        if type(n) is not int or n < 0:
            raise TypeError(f"len({self._r_label}) did not return a count")
        return n

    def __iter__(self):
        items = self._r_sandbox.remote_request(self, {"op": "iter"}, what=f"iter({self._r_label})")
        if type(items) is not list:
            raise TypeError(f"iterating over {self._r_label} did not give a list of items")
        return iter(items)

    def __copy__(self) -> Any:
        return self._r_sandbox.remote_request(self, {"op": "copy", "deep": False},
                                            what=f"copy.copy({self._r_label})")

    def __deepcopy__(self, memo: dict) -> Any:
        return self._r_sandbox.remote_request(self, {"op": "copy", "deep": True},
                                            what=f"copy.deepcopy({self._r_label})")

    def __reduce__(self):
        raise TypeError("a remote object cannot be pickled: it lives in the sandbox")

    def __repr__(self) -> str:
        return f"<remote {type(self).__name__} #{self._r_id} in the sandbox>"


class _CallableRemote(Remote):
    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._r_sandbox.remote_call(self, None, args, kwargs)


class RemoteMethod:
    """``remote.name``, a method of the object in the sandbox: calling it calls that method
    there (looked up afresh at each call), with the object's mirrors synchronised."""

    __slots__ = ("owner", "name")

    def __init__(self, owner: Remote, name: str) -> None:
        self.owner, self.name = owner, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.owner._r_sandbox.remote_call(self.owner, self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<remote method {type(self.owner).__name__}.{self.name}>"


@functools.lru_cache(maxsize=1024)
def remote_class(type_name: str, is_callable: bool) -> type:
    """The subclass of :class:`Remote` named as the sandbox's type (``Affine``)."""
    name = type_name if type_name.isidentifier() else "Remote"
    base = _CallableRemote if is_callable else Remote
    cls = type(name, (base,), {"__slots__": (), "__module__": "sandbox"})
    cls.__qualname__ = name
    return cls


def mirrors_out(remotes: Iterable[Remote], generation: int, header: dict,
                blobs: list[bytes]) -> dict[str, list[Remote]]:
    """Put every live remote object's mirrors in a request: ``header["push"]`` the changed ones
    (handle -> attr -> value), ``header["pull"]`` all of them (handle -> attrs). A change made
    through one handle is copied here into the other handles on the same object. Returns the
    live remotes by handle, for :func:`mirrors_in`."""
    live: dict[str, list[Remote]] = {}
    for r in list(remotes):
        if r._r_generation == generation and r._r_mirrors:
            live.setdefault(str(r._r_id), []).append(r)
    push: dict[str, dict] = {}
    pull: dict[str, set] = {}
    for key, same in live.items():
        for r in same:
            dirty = r._r_sync_out()
            if dirty:
                push.setdefault(key, {}).update(
                    {a: protocol.encode(m, blobs) for a, m in dirty.items()})
                for twin in same:
                    if twin is not r:
                        twin._r_sync_in({a: copy.deepcopy(m) for a, m in dirty.items()})
            pull.setdefault(key, set()).update(r._r_mirrors)
    header["push"], header["pull"] = push, {k: sorted(v) for k, v in pull.items()}
    return live


def mirrors_in(pulled: Any, live: dict[str, list[Remote]], decode: Callable[[Any], Any]) -> None:
    """The mirrors a request changed in the sandbox (``pulled``: handle -> attr -> JSON tree),
    updated here in place; ``decode`` reads a tree (and raises on one that is not data)."""
    for key, attrs in (pulled.items() if type(pulled) is dict else ()):
        if key not in live or type(attrs) is not dict:
            continue
        values = {a: decode(v) for a, v in attrs.items() if type(a) is str}
        for r in live[key]:
            r._r_sync_in(values)
