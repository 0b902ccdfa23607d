"""flatten / unflatten / locate, with property tests on random nested structures."""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradcheck_edu as ge

FLOAT_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int32])
arrays = FLOAT_DTYPES.flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                          elements={"allow_nan": False, "min_value": -1e6, "max_value": 1e6}
                          if np.dtype(dt).kind == "f" else {"min_value": -1000,
                                                             "max_value": 1000}))
numbers = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-1000, 1000))
keys = st.text("abcdefgh", min_size=1, max_size=3)
structures = st.recursive(
    st.one_of(arrays, numbers),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=3),
    ),
    max_leaves=8,
)


def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@settings(max_examples=150, deadline=None)
@given(structures)
def test_round_trip(params):
    theta, spec = ge.flatten(params)
    assert theta.dtype == np.float64 and theta.ndim == 1 and theta.size == spec.size
    _assert_same(spec.unflatten(theta), params)


@settings(max_examples=100, deadline=None)
@given(structures)
def test_locate_points_at_the_entry(params):
    theta, spec = ge.flatten(params)
    leaves = dict(zip(spec.names, spec.leaf_values(params)))
    for i in range(spec.size):
        name, index = spec.locate(i)
        assert float(np.asarray(leaves[name])[index]) == theta[i]


@settings(max_examples=50, deadline=None)
@given(structures)
def test_theta_is_a_copy(params):
    theta, spec = ge.flatten(params)
    before = spec.unflatten(theta)
    theta += 1.0
    _assert_same(spec.unflatten(ge.flatten(params)[0]), before)


def test_dict_order_and_c_order():
    params = {"W1": np.array([[1.0, 2.0], [3.0, 4.0]]), "b1": np.array([5.0, 6.0])}
    theta, spec = ge.flatten(params)
    assert theta.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert spec.names == ["W1", "b1"] and spec.size == 6
    assert spec.locate(1) == ("W1", (0, 1))
    assert spec.locate(2) == ("W1", (1, 0))
    assert spec.locate(5) == ("b1", (1,))
    assert spec.locate(-1) == ("b1", (1,))


def test_fortran_ordered_arrays_flatten_in_c_order():
    W = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    theta, spec = ge.flatten({"W": W})
    assert theta.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert spec.locate(1) == ("W", (0, 1))


def test_nested_names():
    params = {"enc": {"W": np.zeros((2, 2))}, "layers": [np.zeros(1), (np.zeros(1),)]}
    _, spec = ge.flatten(params)
    assert spec.names == ["enc.W", "layers[0]", "layers[1][0]"]
    _, spec = ge.flatten(np.zeros(3))
    assert spec.names == ["theta"] and spec.locate(2) == ("theta", (2,))


def test_unflatten_keeps_dtypes_and_container_types():
    params = OrderedDict(W=np.ones((2, 2), dtype=np.float32), n=np.array([1, 2]))
    theta, spec = ge.flatten(params)
    back = spec.unflatten(theta + 0.25)
    assert isinstance(back, OrderedDict)
    assert back["W"].dtype == np.float32 and back["n"].dtype == params["n"].dtype
    assert spec.unflatten(theta, dtype=np.float64)["n"].dtype == np.float64


def test_unflatten_checks_length():
    _, spec = ge.flatten({"W": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="4 entries"):
        spec.unflatten(np.zeros(5))


def test_locate_out_of_range():
    _, spec = ge.flatten(np.zeros(3))
    with pytest.raises(IndexError):
        spec.locate(3)


def test_rejects_what_is_not_a_parameter():
    with pytest.raises(TypeError, match="'a'.*str"):
        ge.flatten({"a": "hello"})
    with pytest.raises(TypeError, match="real"):
        ge.flatten({"a": np.ones(2, dtype=complex)})
    with pytest.raises(TypeError, match="boolean"):
        ge.flatten([True])


def test_empty_parameters_are_skipped_by_locate():
    theta, spec = ge.flatten({"a": np.zeros((0, 3)), "b": np.ones(2)})
    assert spec.size == 2 and spec.locate(0) == ("b", (0,))
