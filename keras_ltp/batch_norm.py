"""Re-estimating batch-norm statistics after pruning."""

import warnings

import keras
import numpy as np

from keras_ltp.walk import iter_layers
from keras_ltp.wrapper import iter_wrappers

__all__ = ["recalibrate_batch_norm"]


def _batch_norm_layers(model):
    return [layer for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


def _is_array(value):
    return hasattr(value, "shape") and len(value.shape) > 0


def _is_array_input(x):
    """An array, or a dict/list/tuple of arrays (several inputs), as fit() takes them."""
    if isinstance(x, dict):
        return bool(x) and all(_is_array(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(_is_array(v) for v in x)
    return _is_array(x)


def _batches(x, batch_size):
    if _is_array_input(x):
        sizes = {int(leaf.shape[0]) for leaf in keras.tree.flatten(x)}
        if len(sizes) != 1:
            raise ValueError(f"recalibrate_batch_norm: the input arrays have different lengths {sorted(sizes)}.")
        (size,) = sizes
        for start in range(0, size, batch_size):
            yield keras.tree.map_structure(lambda leaf, start=start: leaf[start : start + batch_size], x)
        return
    try:
        iterator = iter(x)
    except TypeError:
        raise TypeError(
            "recalibrate_batch_norm: x must be input arrays (a NumPy array, a tensor, or a dict/list of them) "
            f"or an iterable of batches such as a tf.data.Dataset; got {type(x).__name__}."
        ) from None
    for batch in iterator:
        # Like fit(): a tuple is (x, y) or (x, y, sample_weight); x is the first item.
        yield batch[0] if isinstance(batch, tuple) else batch


def recalibrate_batch_norm(model, x, *, batch_size=64, steps=None):
    """Re-estimates every BatchNormalization layer's moving mean and variance.

    A batch-norm layer's moving statistics are exponential averages
    (`momentum=0.99`: about the last 100 steps) of batch statistics taken
    while the weights before it changed. Pruning changes those weights fast,
    so after it the moving statistics can be far from what the final network
    computes, and `evaluate()` (which uses them) reports much less than the
    network achieves (measured on `benchmarks/compare.py`'s dense small
    ResNet: 71.5% with the statistics from `fit`, 96.8% after this). This runs the model in training
    mode over `x` and sets each layer's moving mean and variance to the
    average of its batch means and variances, weighted by batch size:

        moving_mean = sum_b n_b mean_b / sum_b n_b    (same for the variance)

    the quantity `fit`'s updates estimate, computed with the final weights.
    Use it after pruning, before `evaluate()` or export, on the pruned model
    or its `strip()`-ed copy: in a pruned model every `PrunableWrapper`
    computes with its hard mask here (not the soft mask of training), so the
    statistics are those of the network that `strip` and export produce. It
    changes nothing but the moving statistics; `momentum` is restored.

    The model runs with `training=True`, like in `fit`: dropout is active,
    as it was when `fit` computed the statistics. Batch-norm layers with
    `trainable=False` are frozen and keep their statistics (a warning names
    them).

    Args:
        model: a built Keras model or layer.
        x: training inputs: a NumPy array or tensor (or a dict/list of them,
            for several inputs), cut here into batches of `batch_size`; or an
            iterable of batches, each `x` or a tuple `(x, y, ...)`, such as a
            `tf.data.Dataset`.
        batch_size: batch size for array inputs. Batch statistics depend on
            it: use the training batch size.
        steps: use at most this many batches (default: all of `x`).

    Returns:
        The number of batch-norm layers recalibrated: 0 (with a warning) for
        a model without batch-norm, so one pipeline can serve every
        architecture.

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    >>> keras_ltp.recalibrate_batch_norm(model, np.ones((8, 4)), batch_size=4)
    1
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"recalibrate_batch_norm: expected a Keras model or layer, got {type(model).__name__}.")
    if not model.built:
        raise ValueError(f"recalibrate_batch_norm: {model.name!r} is not built; call it on data or build it first.")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"recalibrate_batch_norm: batch_size must be an int >= 1, got {batch_size!r}.")
    if steps is not None and not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"recalibrate_batch_norm: steps must be None or an int >= 1, got {steps!r}.")
    layers = _batch_norm_layers(model)
    if not layers:
        warnings.warn(
            f"recalibrate_batch_norm: {model.name!r} has no BatchNormalization layer, so there is "
            "nothing to recalibrate; the model is left as it is.",
            stacklevel=2,
        )
        return 0
    frozen = [layer.name for layer in layers if not layer.trainable]
    if frozen:
        warnings.warn(
            f"recalibrate_batch_norm: {frozen} have trainable=False and keep their statistics; "
            "set trainable=True on them first to recalibrate them too.",
            stacklevel=2,
        )
    active = [layer for layer in layers if layer.trainable]
    saved = [(layer.momentum, getattr(layer, "renorm_momentum", None)) for layer in active]
    wrappers = list(iter_wrappers(model))
    hard_forward = [wrapper.hard_forward for wrapper in wrappers]
    statistics = [v for layer in active for v in layer.non_trainable_variables]
    before = [np.array(keras.ops.convert_to_numpy(v.value)) for v in statistics]
    seen = 0
    completed = False
    try:
        for index, batch in enumerate(_batches(x, batch_size)):
            if steps is not None and index >= steps:
                break
            size = int(keras.tree.flatten(batch)[0].shape[0])
            if size == 0:
                continue
            # moving * m + batch * (1 - m) with m = seen / (seen + n) keeps the
            # running, size-weighted average of the batch statistics.
            momentum = seen / (seen + size)
            for wrapper in wrappers:
                wrapper.hard_forward = True
            for layer in active:
                layer.momentum = momentum
                if getattr(layer, "renorm", False):
                    layer.renorm_momentum = momentum
            model(batch, training=True)
            seen += size
        completed = seen > 0
    finally:
        for wrapper, value in zip(wrappers, hard_forward):
            wrapper.hard_forward = value
        if not completed:  # an error, or no data: leave the statistics as they were
            for variable, value in zip(statistics, before):
                variable.assign(value)
        for layer, (momentum, renorm_momentum) in zip(active, saved):
            layer.momentum = momentum
            if renorm_momentum is not None:
                layer.renorm_momentum = renorm_momentum
    if seen == 0:
        raise ValueError("recalibrate_batch_norm: x yielded no data; pass the training inputs.")
    return len(active)
