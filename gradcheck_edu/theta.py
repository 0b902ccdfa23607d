"""The theta vector: flatten a structure of parameter arrays into one 1-D vector and back.

A model's parameters usually live in a structure such as ``{"W1": ..., "b1": ...}``. Gradient
checking, optimizers and plots often want them as a single vector ``theta``. :func:`flatten`
returns that vector (a float64 copy) together with a :class:`ParamSpec` that knows how to rebuild
the structure and which parameter each entry of ``theta`` came from.

>>> import numpy as np
>>> params = {"W1": np.arange(6.0).reshape(3, 2), "b1": np.zeros(2)}
>>> theta, spec = flatten(params)
>>> theta.shape, spec.names, spec.size
((8,), ['W1', 'b1'], 8)
>>> spec.locate(5)
('W1', (2, 1))
>>> spec.locate(6)
('b1', (0,))
>>> back = spec.unflatten(theta)
>>> back["W1"].shape, bool(np.array_equal(back["W1"], params["W1"]))
((3, 2), True)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["flatten", "spec_of", "ParamSpec", "Leaf"]


@dataclass(frozen=True)
class Leaf:
    """One parameter of a structure: where it sits in theta and what it looked like."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int
    pytype: type | None = None  # set when the parameter was a Python or NumPy scalar

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _child_name(parent: str, key: Any, container: str, exact: bool = False) -> str:
    """``W1``, ``layer1.W``, ``layers[0]``; with ``exact`` (when the short names of two
    parameters coincide, as ``{"a.b": ..., "a": {"b": ...}}``), ``['a.b']`` and ``['a']['b']``."""
    if container == "dict":
        if exact:
            return f"{parent}[{key!r}]"
        return f"{parent}.{key}" if parent else str(key)
    return f"{parent}[{key}]"


class ParamSpec:
    """How a structure of parameters maps onto the entries of theta.

    Built by :func:`flatten`; do not construct it directly.

    Attributes
    ----------
    leaves : list of Leaf
        One per parameter, in theta order (dict insertion order, then C order inside each array).
    names : list of str
        Parameter names: the dict key for a flat dict (``"W1"``), dotted/indexed paths for nested
        structures (``"enc.W"``, ``"layers[0]"``), ``"theta"`` for a bare array or number.
    size : int
        Total number of entries of theta.
    """

    def __init__(self, treedef: Any, leaves: list[Leaf]):
        self._treedef = treedef
        self.leaves = leaves
        self.names = [leaf.name for leaf in leaves]
        self.size = sum(leaf.size for leaf in leaves)
        self._offsets = [leaf.offset for leaf in leaves]

    def __repr__(self) -> str:
        parts = ", ".join(f"{leaf.name}{leaf.shape}" for leaf in self.leaves)
        return f"ParamSpec(size={self.size}: {parts})"

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [leaf.shape for leaf in self.leaves]

    @property
    def dtypes(self) -> list[np.dtype]:
        """The dtype of each parameter (a Python number counts as float64)."""
        return [leaf.dtype for leaf in self.leaves]

    def slice(self, name: str) -> slice:
        """The slice of theta that holds parameter ``name``."""
        for leaf in self.leaves:
            if leaf.name == name:
                return slice(leaf.offset, leaf.offset + leaf.size)
        raise KeyError(f"no parameter named {name!r}; the names are {self.names}")

    def leaf_index(self, i: int) -> tuple[int, tuple[int, ...]]:
        """(position of the leaf in ``leaves``, index inside it) of theta entry ``i``."""
        if not -self.size <= i < self.size:
            raise IndexError(f"index {i} is out of range for a theta of size {self.size}")
        i = int(i) % self.size
        k = bisect.bisect_right(self._offsets, i) - 1
        # Skip empty parameters sharing the same offset.
        while self.leaves[k].size == 0:
            k += 1
        leaf = self.leaves[k]
        index = np.unravel_index(i - leaf.offset, leaf.shape) if leaf.shape else ()
        return k, tuple(int(j) for j in index)

    def locate(self, i: int) -> tuple[str, tuple[int, ...]]:
        """Name of the parameter and index inside it of theta entry ``i``.

        >>> import numpy as np
        >>> _, spec = flatten({"W1": np.zeros((4, 3)), "b1": np.zeros(3)})
        >>> spec.locate(11)
        ('W1', (3, 2))
        """
        k, index = self.leaf_index(i)
        return self.leaves[k].name, index

    def components(self, indices: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The components to perturb as two int64 arrays: the position of each one's leaf in
        ``leaves`` and its flat (C-order) index inside that leaf; all of theta in order, or the
        given flat indices of theta (negative ones count from the end). Arrays, not a list of
        tuples: a full check of a large model keeps 16 bytes per component here."""
        sizes = np.array([leaf.size for leaf in self.leaves], dtype=np.int64)
        starts = np.array(self._offsets, dtype=np.int64)
        if indices is None:
            leaf = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
            return leaf, np.arange(self.size, dtype=np.int64) - starts[leaf]
        i = np.asarray(indices, dtype=np.int64).reshape(-1)
        if i.size and not (np.all(i >= -self.size) and np.all(i < self.size)):
            bad = int(i[(i < -self.size) | (i >= self.size)][0])
            raise IndexError(f"index {bad} is out of range for a theta of size {self.size}")
        i = i % max(self.size, 1)
        # the first leaf that ends after i (empty leaves end where they start, so are skipped)
        leaf = np.searchsorted(starts + sizes, i, side="right").astype(np.int64)
        return leaf, i - starts[leaf]

    def positions(self, leaf: np.ndarray, flat: np.ndarray) -> np.ndarray:
        """The flat positions in theta of components (leaf, flat) (see :meth:`components`)."""
        return np.array(self._offsets, dtype=np.int64)[leaf] + flat

    def label(self, k: int, flat: int) -> str:
        """``"W1[2, 0]"`` for flat entry ``flat`` of leaf ``k``; the bare name for a scalar.

        >>> import numpy as np
        >>> spec_of({"W1": np.zeros((4, 3))}).label(0, 6)
        'W1[2, 0]'
        """
        leaf = self.leaves[int(k)]
        if not leaf.shape:
            return leaf.name
        index = np.unravel_index(int(flat), leaf.shape)
        return f"{leaf.name}[{', '.join(str(int(j)) for j in index)}]"

    def label_of(self, i: int) -> str:
        """``"W1[2, 0]"`` for entry ``i`` of the flat theta."""
        k, index = self.leaf_index(int(i))
        leaf = self.leaves[k]
        return self.label(k, int(np.ravel_multi_index(index, leaf.shape)) if leaf.shape else 0)

    def leaf_values(self, obj: Any) -> list[Any]:
        """The leaves of ``obj``, which must have this spec's structure, in theta order."""
        out: list[Any] = []
        self._collect(self._treedef, obj, out, "")
        return out

    def _collect(self, node: Any, obj: Any, out: list[Any], name: str) -> None:
        kind = node[0]
        if kind == "leaf":
            leaf = self.leaves[node[1]]
            shape = np.shape(obj)
            if shape != leaf.shape:
                raise ValueError(
                    f"parameter {leaf.name!r} has shape {shape}, expected {leaf.shape} "
                    "(the same shape as theta's)"
                )
            out.append(obj)
        elif kind == "dict":
            if not isinstance(obj, dict) or list(obj.keys()) != list(node[1]):
                got = list(obj.keys()) if isinstance(obj, dict) else type(obj).__name__
                raise ValueError(
                    f"structure differs at {name or 'the top level'!r}: "
                    f"expected a dict with keys {list(node[1])}, got {got}"
                )
            for key, child in zip(node[1], node[2]):
                self._collect(child, obj[key], out, _child_name(name, key, "dict"))
        else:  # list or tuple
            want = list if kind == "list" else tuple
            if not isinstance(obj, want) or len(obj) != len(node[2]):
                got = f"{type(obj).__name__} of length {len(obj)}" if isinstance(
                    obj, (list, tuple)) else type(obj).__name__
                raise ValueError(
                    f"structure differs at {name or 'the top level'!r}: expected a {kind} of "
                    f"length {len(node[2])}, got {got}"
                )
            for j, child in enumerate(node[2]):
                self._collect(child, obj[j], out, _child_name(name, j, kind))

    def build(self, values: list[Any]) -> Any:
        """Rebuild the structure with ``values`` (one object per leaf, in theta order)."""
        if len(values) != len(self.leaves):
            raise ValueError(f"expected {len(self.leaves)} leaves, got {len(values)}")
        it = iter(values)
        return self._build(self._treedef, it)

    def _build(self, node: Any, it: Any) -> Any:
        kind = node[0]
        if kind == "leaf":
            return next(it)
        if kind == "dict":
            cls = node[3]
            return cls((key, self._build(child, it)) for key, child in zip(node[1], node[2]))
        children = [self._build(child, it) for child in node[2]]
        cls = node[3]
        if kind == "list":
            return cls(children)
        return cls(*children) if _is_namedtuple_type(cls) else cls(children)

    def unflatten(self, theta: Any, dtype: Any = None) -> Any:
        """Rebuild the structure from a 1-D theta (new arrays; theta is not kept).

        Parameters
        ----------
        theta : array_like, shape (size,)
        dtype : dtype, optional
            Cast every parameter to this dtype instead of its original one (e.g. float64 for a
            gradient). Python scalars then come back as ``float``.
        """
        theta = np.asarray(theta)
        if theta.shape != (self.size,):
            raise ValueError(
                f"theta must be 1-D with {self.size} entries to match the parameters, "
                f"got shape {theta.shape}"
            )
        values = []
        for leaf in self.leaves:
            chunk = theta[leaf.offset : leaf.offset + leaf.size].reshape(leaf.shape)
            if leaf.pytype is not None:
                value = chunk.item() if chunk.size else chunk
                values.append(float(value) if dtype is not None else leaf.pytype(value))
            else:
                values.append(chunk.astype(dtype if dtype is not None else leaf.dtype, copy=True))
        return self.build(values)

    def check_same(self, other: ParamSpec, what: str = "gradient") -> None:
        """Raise ValueError naming the first parameter whose shape or place differs.

        Container classes may differ (a ``dict`` gradient for an ``OrderedDict`` of parameters).
        """
        if _skeleton(self._treedef) == _skeleton(other._treedef) and self.shapes == other.shapes:
            return
        for mine, theirs in zip(self.leaves, other.leaves):
            if mine.name != theirs.name:
                raise ValueError(
                    f"the {what} has a parameter {theirs.name!r} where theta has {mine.name!r}; "
                    "give it the same structure as theta"
                )
            if mine.shape != theirs.shape:
                raise ValueError(
                    f"the {what} for parameter {mine.name!r} has shape {theirs.shape}, "
                    f"but the parameter has shape {mine.shape}"
                )
        raise ValueError(
            f"the {what} has parameters {other.names} but theta has {self.names}; "
            "give it the same structure as theta"
        )


def _skeleton(node: Any) -> Any:
    """The tree without container classes: what must match between theta and a gradient."""
    if node[0] == "leaf":
        return node
    return (node[0], node[1], tuple(_skeleton(child) for child in node[2]))


def _is_namedtuple_type(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _tree(obj: Any, name: str, leaves: list[Leaf], offset: list[int], exact: bool = False
          ) -> Any:
    if isinstance(obj, dict):
        keys = tuple(obj.keys())
        children = tuple(
            _tree(obj[k], _child_name(name, k, "dict", exact), leaves, offset, exact)
            for k in keys
        )
        return ("dict", keys, children, type(obj))
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        children = tuple(
            _tree(v, _child_name(name, j, kind), leaves, offset, exact) for j, v in enumerate(obj)
        )
        return (kind, None, children, type(obj))
    leaf_name = name or "theta"
    if isinstance(obj, (bool, np.bool_)) or (
        isinstance(obj, np.ndarray) and obj.dtype == np.bool_
    ):
        raise TypeError(f"parameter {leaf_name!r} is a boolean; parameters must be numbers")
    if isinstance(obj, (int, float, np.integer, np.floating)):
        pytype = type(obj)
        shape: tuple[int, ...] = ()
        dtype = np.asarray(obj).dtype
    elif isinstance(obj, np.ndarray):
        pytype = None
        shape, dtype = obj.shape, obj.dtype
    else:
        raise TypeError(
            f"cannot flatten parameter {leaf_name!r} of type {type(obj).__name__}: parameters "
            "must be NumPy arrays or numbers, possibly inside dicts, lists and tuples"
        )
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise TypeError(
            f"parameter {leaf_name!r} has dtype {dtype}; parameters must be real numbers"
        )
    leaf = Leaf(leaf_name, tuple(int(s) for s in shape), np.dtype(dtype), offset[0], pytype)
    leaves.append(leaf)
    offset[0] += leaf.size
    return ("leaf", len(leaves) - 1)


def spec_of(params: Any) -> ParamSpec:
    """The :class:`ParamSpec` of a structure, without copying any values."""
    leaves: list[Leaf] = []
    treedef = _tree(params, "", leaves, [0])
    names = [leaf.name for leaf in leaves]
    if len(set(names)) < len(names):
        # two parameters print alike: each gets its own row, named by its exact path
        exact: list[Leaf] = []
        _tree(params, "", exact, [0], exact=True)
        twice = {n for n in names if names.count(n) > 1}
        leaves = [replace(leaf, name=e.name) if leaf.name in twice else leaf
                  for leaf, e in zip(leaves, exact)]
    return ParamSpec(treedef, leaves)


def flatten(params: Any) -> tuple[np.ndarray, ParamSpec]:
    """Flatten a structure of parameters into a 1-D float64 theta (a copy) and its spec.

    Parameters
    ----------
    params : number, ndarray, or dict / list / tuple (nested) of them
        Dict entries are taken in insertion order, each array in C (row-major) order.

    Returns
    -------
    theta : ndarray, shape (n,), float64
        A new array: changing it never changes ``params``.
    spec : ParamSpec
        ``spec.unflatten(theta)`` rebuilds the structure with the original shapes and dtypes;
        ``spec.locate(i)`` names the parameter and index of entry ``i``.

    Examples
    --------
    >>> import numpy as np
    >>> theta, spec = flatten({"layer": [np.ones((2, 2)), 3.0]})
    >>> theta.tolist(), spec.names
    ([1.0, 1.0, 1.0, 1.0, 3.0], ['layer[0]', 'layer[1]'])
    """
    spec = spec_of(params)
    theta = np.empty(spec.size, dtype=np.float64)
    for leaf, value in zip(spec.leaves, spec.leaf_values(params)):
        theta[leaf.offset : leaf.offset + leaf.size] = np.ravel(value, order="C")
    return theta, spec
