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
from keras_ltp.registry import prunable_weights

L = keras.layers


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


class _Scaled(keras.layers.Layer):
    """Two weights with names that are not defaults; `scale` is the one to prune."""

    def build(self, shape):
        self.scale = self.add_weight(shape=shape[-1:], name="scale")
        self.offset = self.add_weight(shape=shape[-1:], name="offset")

    def call(self, x):
        return x * self.scale + self.offset


def test_a_weight_name_given_as_one_string_is_one_name():
    # Registered inside the test (mutation testing runs module-level code
    # before choosing the mutant): "scale" must not be read as s, c, a, l, e.
    class Registered(_Scaled):
        pass

    class Declared(_Scaled):
        prunable_weight_names = "scale"

    keras_ltp.register_prunable(Registered, "scale")
    for cls in (Registered, Declared):
        layer = cls()
        layer.build((None, 3))
        assert [w.name for w in prunable_weights(layer)] == ["scale"]


class _Custom(keras.layers.Layer):
    """Declares its own prunable weights, listing one twice."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 2), name="w")
        self.kernel = self.add_weight(shape=(shape[-1], 2), name="kernel")  # a default name, not declared

    def get_prunable_weights(self):
        return [self.w, self.w]

    def call(self, x):
        return x @ self.w + x @ self.kernel


class _Holder(keras.layers.Layer):
    """A nested composite: (custom, inner Dense), then an outer Dense."""

    def __init__(self):
        super().__init__()
        self.inner = keras.Sequential([_Custom(), L.Dense(2, name="deep")])
        self.outer = L.Dense(2, name="shallow")

    def build(self, shape):
        self.inner.build(shape)
        self.outer.build((None, 2))

    def call(self, x):
        return self.outer(self.inner(x))


def test_nested_custom_declarations_once_each_in_the_order_of_the_layers_weights():
    holder = _Holder()
    holder.build((None, 3))
    custom = holder.inner.layers[0]
    found = prunable_weights(holder)
    assert [w.path for w in found] == [custom.w.path, holder.inner.layers[1].kernel.path, holder.outer.kernel.path]
    assert custom.kernel.path not in [w.path for w in found]  # the custom layer's own list decides for it
    assert [w.path for w in prunable_weights(custom)] == [custom.w.path]  # listed twice, counted once
    order = [w.path for w in holder.weights]
    assert [order.index(w.path) for w in found] == sorted(order.index(w.path) for w in found)


def test_frozen_weights_are_not_pruned_except_the_base_kernel_under_lora():
    frozen = L.Dense(3)
    frozen.build((None, 4))
    frozen.kernel.trainable = False
    assert prunable_weights(frozen) == []

    class Plain(keras.layers.Layer):  # no lora_enabled attribute at all
        def build(self, shape):
            self.kernel = self.add_weight(shape=(shape[-1], 2), name="kernel", trainable=False)

        def call(self, x):
            return x @ self.kernel

    plain = Plain()
    plain.build((None, 4))
    assert prunable_weights(plain) == []
    lora = L.Dense(3)
    lora.build((None, 4))
    lora.enable_lora(2)
    assert [w.name for w in prunable_weights(lora)] == ["kernel"]
