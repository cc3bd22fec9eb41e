"""A wrapped layer that assigns to the weight being pruned inside its call()
is refused (the assignment would be lost or would bake the mask in); other
assignments it makes are kept. Found by mutation testing (docs/testing.md):
the refusal was never exercised."""

import keras
import numpy as np
import pytest

import keras_ltp


class RewritesItsKernel(keras.layers.Dense):
    def call(self, x):
        self.kernel.assign(self.kernel * 0.5)
        return super().call(x)


class CountsItsCalls(keras.layers.Dense):
    def build(self, shape):
        super().build(shape)
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, x):
        self.calls.assign(self.calls + 1.0)
        return super().call(x)


def test_assigning_the_pruned_weight_inside_call_is_refused():
    wrapper = keras_ltp.PrunableWrapper(RewritesItsKernel(3, name="editor"))
    with pytest.raises(RuntimeError, match="kernel"):
        wrapper(np.ones((2, 4), "float32"))


def test_other_assignments_inside_call_are_kept():
    inner = CountsItsCalls(3, name="counter")
    wrapper = keras_ltp.PrunableWrapper(inner)
    x = np.ones((2, 4), "float32")
    wrapper(x)
    wrapper(x, training=True)
    assert float(keras.ops.convert_to_numpy(inner.calls.value)) == 2.0
