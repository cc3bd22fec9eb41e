"""A custom layer opts in to pruning (README "What is pruned"):
`keras_ltp.register_prunable`, the `prunable_weight_names` class attribute,
`get_prunable_weights()`. The pruned model must compute the layer on
`w * (w^2 > tau)` for exactly the declared weights, checked against numpy.
Found by mutation testing (docs/testing.md): nothing exercised
register_prunable."""

import keras
import numpy as np
import pytest

import keras_ltp


class Scale(keras.layers.Layer):
    """y = x * w + b, two weights with names the default rule does not know."""

    def build(self, shape):
        self.w = self.add_weight(shape=shape[-1:], name="w", initializer="ones")
        self.b = self.add_weight(shape=shape[-1:], name="b", initializer="zeros")

    def call(self, x):
        return x * self.w + self.b


class RegisteredByName(Scale):
    pass


class RegisteredByList(Scale):
    pass


class SubclassOfRegistered(RegisteredByList):
    pass


class ByAttribute(Scale):
    prunable_weight_names = ("w",)


class ByMethod(Scale):
    def get_prunable_weights(self):
        return [self.w]


keras_ltp.register_prunable(RegisteredByName, "w")  # a single name as a string
keras_ltp.register_prunable(RegisteredByList, ["w"])

RELATIVE_TAU = 1.0  # tau = 1.0 * mean(w^2): prunes the smaller weights


def _pruned_model(layer_class):
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((6,)), layer_class(name="scale")])
    w = rng.normal(size=6).astype("float32")
    b = rng.normal(size=6).astype("float32")
    model.layers[0].set_weights([w, b])
    return keras_ltp.prune(model, initial_threshold=RELATIVE_TAU), w, b


@pytest.mark.parametrize(
    "layer_class", [RegisteredByName, RegisteredByList, SubclassOfRegistered, ByAttribute, ByMethod]
)
def test_the_declared_weight_is_pruned_and_only_it(layer_class):
    pruned, w, b = _pruned_model(layer_class)
    (wrapper,) = keras_ltp.iter_wrappers(pruned)
    assert [v.name for v in wrapper.pruned_weights] == ["w"]

    keep = w.astype("float64") ** 2 > RELATIVE_TAU * np.mean(w.astype("float64") ** 2)
    assert 0 < keep.sum() < keep.size
    x = np.random.default_rng(4).normal(size=(3, 6)).astype("float32")
    expected = x * (w * keep) + b  # the bias is not pruned
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pruned(x, training=False)), expected, rtol=1e-6)
    report = keras_ltp.sparsity(pruned)
    assert (report["kept"], report["total"]) == (int(keep.sum()), 6)
    stripped = keras_ltp.strip(pruned)
    np.testing.assert_allclose(stripped.layers[0].get_weights()[0], w * keep)
    np.testing.assert_allclose(stripped.layers[0].get_weights()[1], b)


def test_an_undeclared_custom_layer_is_left_dense():
    model = keras.Sequential([keras.Input((6,)), Scale(name="plain"), keras.layers.Dense(2, name="fc")])
    pruned = keras_ltp.prune(model)
    assert [w.layer.name for w in keras_ltp.iter_wrappers(pruned)] == ["fc"]


@pytest.mark.parametrize(
    "layer_class,names,error",
    [
        (Scale(), ["w"], TypeError),  # an instance, not a class
        (int, ["w"], TypeError),  # a class that is not a layer
        ("Scale", ["w"], TypeError),
        (Scale, [], ValueError),  # no names
        (Scale, (), ValueError),
    ],
)
def test_register_prunable_rejects_bad_arguments(layer_class, names, error):
    with pytest.raises(error):
        keras_ltp.register_prunable(layer_class, names)


def test_register_prunable_returns_the_class():
    class Fresh(Scale):
        pass

    assert keras_ltp.register_prunable(Fresh, ("w",)) is Fresh
