"""Is a pruning run going too fast, or too far? Two diagnostics.

* `transition_fraction`: the fraction of pruned weights whose soft mask is
  still undecided, `band < sigm((w^2 - tau) / T) < 1 - band`. Only these
  weights give the threshold a gradient and feel the L0 term; when the
  fraction reaches zero early while the loss is still high, the masks froze
  too soon (too fast: anneal the temperature or raise the threshold more
  slowly).
* `mask_loss_gap`: the loss with the hard masks that inference and export
  use, minus the loss with the masks training uses, on the same data and
  with every other layer in inference mode. A large gap means that the
  model training optimises is not the one you will ship (undecided masks, or
  batch-norm statistics gathered under soft masks); a small gap with a high
  loss means the sparsity itself costs accuracy (too far).

`keras_ltp.callbacks.SparsityMonitor` logs both each epoch and
`keras_ltp.plot.diagnostics` draws them.
"""

import math

import keras
import numpy as np

from keras_ltp.wrapper import iter_wrappers, training_masks

__all__ = ["mask_loss_gap", "transition_fraction"]


def transition_fraction(model_or_layer, band=0.05):
    """The fraction of pruned weights whose soft mask lies in `(band, 1 - band)`.

    Args:
        model_or_layer: a built model or layer containing `PrunableWrapper`s.
        band: in `(0, 0.5)`; mask values within it of 0 or 1 count as decided.

    Returns:
        A dict: `transition` (over all pruned weights) and `layers`
        (`{wrapper name: fraction of its pruned weights}`).

    Example:
    >>> import keras, keras_ltp
    >>> layer = keras_ltp.prune(keras.layers.Dense(2), initial_threshold=0.0)
    >>> layer.build((None, 3))
    >>> keras_ltp.diagnostics.transition_fraction(layer)["transition"] <= 1.0
    True
    """
    wrappers = list(iter_wrappers(model_or_layer))
    if not wrappers:
        raise ValueError(
            f"{getattr(model_or_layer, 'name', model_or_layer)!r} contains no PrunableWrapper; "
            "prune it first with keras_ltp.prune()."
        )
    layers, in_band, total = {}, 0, 0
    for wrapper in wrappers:
        if not wrapper.built:
            raise ValueError(f"{wrapper.name!r} is not built; call the model on data first.")
        counts = [float(keras.ops.convert_to_numpy(keras.ops.sum(m))) for m in wrapper.transition_masks(band)]
        size = wrapper.num_prunable()
        if size:
            layers[wrapper.name] = sum(counts) / size
            in_band += sum(counts)
            total += size
    return {"transition": in_band / total if total else 0.0, "layers": layers}


def mask_loss_gap(model, data, batch_size=256):
    """The compiled loss with hard masks minus the loss with training's masks.

    Both losses are what `model.evaluate` reports (the compiled loss plus the
    model's own losses other than the L0 term), computed with every layer in
    inference mode; only the masks differ (`keras_ltp.wrapper.training_masks`).

    Args:
        model: a compiled `keras.Model` containing `PrunableWrapper`s.
        data: a tuple `(x, y)` or `(x, y, sample_weight)` of arrays (`x`
            may be a structure of arrays), split into batches of
            `batch_size`; or a finite iterable of such batches (a
            `tf.data.Dataset`, a list).
        batch_size: batch size for arrays.

    Returns:
        A dict: `soft_mask_loss`, `hard_mask_loss` and `mask_loss_gap`
        (= hard - soft), floats averaged over the examples.

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> model = keras_ltp.prune(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))
    >>> model.compile(loss="mse")
    >>> x, y = np.ones((4, 3)), np.zeros((4, 1))
    >>> gap = keras_ltp.diagnostics.mask_loss_gap(model, (x, y))
    >>> sorted(gap)
    ['hard_mask_loss', 'mask_loss_gap', 'soft_mask_loss']
    """
    if not list(iter_wrappers(model)):
        raise ValueError(f"{model.name!r} contains no PrunableWrapper; prune it first with keras_ltp.prune().")
    if not getattr(model, "compiled", False) or model.loss is None:
        raise ValueError(f"{model.name!r} has no compiled loss: call model.compile(loss=...) before measuring the gap.")
    sums, count = {"soft_mask_loss": 0.0, "hard_mask_loss": 0.0}, 0
    for batch in _batches(data, batch_size):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        if y is None:
            raise ValueError("mask_loss_gap needs targets: give (x, y) or (x, y, sample_weight) batches.")
        size = _batch_size(x)
        with training_masks():
            sums["soft_mask_loss"] += size * _loss(model, x, y, sample_weight)
        sums["hard_mask_loss"] += size * _loss(model, x, y, sample_weight)
        count += size
    if not count:
        raise ValueError("mask_loss_gap got no data: give at least one example.")
    result = {key: value / count for key, value in sums.items()}
    result["mask_loss_gap"] = result["hard_mask_loss"] - result["soft_mask_loss"]
    return result


def _loss(model, x, y, sample_weight):
    y_pred = model(x, training=False)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
    value = float(keras.ops.convert_to_numpy(loss))
    if not math.isfinite(value):
        raise ValueError(f"The loss is {value} on this data; the gap cannot be measured.")
    return value


def _batches(data, batch_size):
    if isinstance(data, tuple):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        arrays = [None if a is None else keras.tree.map_structure(np.asarray, a) for a in data]
        n = _batch_size(arrays[0])
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            yield tuple(
                None if a is None else keras.tree.map_structure(lambda v, rows=rows: v[rows], a) for a in arrays
            )
        return
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise TypeError(f"data must be (x, y) arrays or an iterable of (x, y) batches, got {type(data).__name__}.")
    yield from data


def _batch_size(x):
    return int(keras.tree.flatten(x)[0].shape[0])
