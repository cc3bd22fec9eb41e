"""keras_ltp.walk: the one traversal of nested layers."""

import keras

from keras_ltp.walk import child_layers, iter_layers, own_variables

L = keras.layers


def nested():
    shared = L.Dense(2, name="shared")
    inner = keras.Sequential([keras.Input((2,)), shared, L.Dense(2, name="inner_d")], name="inner")
    inputs = keras.Input((2,))
    outputs = L.Dense(2, name="last")(inner(shared(inputs)))
    return keras.Model(inputs, outputs, name="outer")


def test_breadth_and_depth_first_visit_each_layer_once():
    model = nested()
    breadth = [layer.name for layer in iter_layers(model)]
    depth = [layer.name for layer in iter_layers(model, depth_first=True)]
    assert breadth[0] == depth[0] == "outer"
    assert sorted(breadth) == sorted(depth) and len(set(breadth)) == len(breadth)  # "shared" once
    assert {"shared", "inner", "inner_d", "last"} <= set(breadth)
    # Depth first: inner's own layers come right after it; breadth first: outer's layers first.
    assert depth.index("inner_d") < depth.index("last")
    assert breadth.index("last") < breadth.index("inner_d")


def test_descend_false_stops_below_a_layer_but_yields_it():
    names = [layer.name for layer in iter_layers(nested(), descend=lambda layer: layer.name != "inner")]
    assert "inner" in names and "inner_d" not in names


def test_own_variables_exclude_sub_layers():
    attention = L.MultiHeadAttention(2, 3)
    attention(keras.ops.ones((1, 4, 6)), keras.ops.ones((1, 4, 6)))
    assert own_variables(attention) == []
    assert {v.name for v in own_variables(attention._query_dense)} == {"kernel", "bias"}


def test_child_layers_are_the_direct_children_only():
    """Not the layer itself, not grandchildren (kills mutants of the private
    `_flatten_layers` call's include_self)."""
    model = nested()
    inner = model.get_layer("inner")
    assert [layer.name for layer in child_layers(inner)][1:] == ["shared", "inner_d"]  # after its InputLayer
    assert model not in child_layers(model)
    assert "inner_d" not in [layer.name for layer in child_layers(model)]
    assert child_layers(L.Dense(2)) == []
