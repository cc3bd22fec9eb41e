import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def gradients(loss_fn, variables):
    """d loss_fn() / d variables, as numpy arrays (TensorFlow backend)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
    return [np.asarray(g) for g in tape.gradient(loss, variables)]
