"""strip() refuses what it cannot rebuild, with the fix in the message.
Found by mutation testing (docs/testing.md)."""

import keras
import numpy as np
import pytest

import keras_ltp


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.fc = keras_ltp.prune(keras.layers.Dense(2))

    def call(self, x):
        return self.fc(x)


def test_strip_of_a_subclassed_model_names_the_fix():
    model = Subclassed()
    model(np.ones((1, 3), "float32"))
    with pytest.raises(TypeError, match="keras_ltp.strip\\(wrapper\\)"):
        keras_ltp.strip(model)
    plain = keras_ltp.strip(model.fc)  # the documented way out
    assert type(plain) is keras.layers.Dense


def test_strip_of_a_non_layer_is_refused():
    with pytest.raises(TypeError, match="keras.Model or layer"):
        path = "model.keras"  # a file name, not a model
        keras_ltp.strip(path)
