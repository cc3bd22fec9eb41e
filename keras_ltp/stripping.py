"""`strip()`: a plain Keras model with the hard masks baked into the weights."""

import keras
import numpy as np

from keras_ltp.copying import Chain, Dispatch, clone_graph, copy_layer
from keras_ltp.coupled import CoupledChannels
from keras_ltp.walk import is_graph_model
from keras_ltp.wrapper import PrunableWrapper

__all__ = ["strip"]


def strip(model_or_layer):
    """Returns a plain Keras model with the hard masks baked into the weights.

    Every `PrunableWrapper` is replaced by a copy of its original layer (same
    class and config as before `prune()`) whose pruned weights are
    `w * (w^2 > tau)`. Nothing from keras_ltp remains in the result, and the
    given model is not modified.

    Args:
        model_or_layer: a model or layer pruned with keras_ltp (a model with
            no wrapper is returned as a plain copy).

    Returns:
        A new `keras.Model`, or a plain layer when given a `PrunableWrapper`.

    Example:
    >>> import keras, keras_ltp
    >>> pruned = keras_ltp.prune(keras.Sequential([keras.Input((3,)),
    ...                                            keras.layers.Dense(2)]))
    >>> [type(l).__name__ for l in keras_ltp.strip(pruned).layers]
    ['Dense']
    """
    if isinstance(model_or_layer, PrunableWrapper):
        if isinstance(model_or_layer.layer, CoupledChannels):
            raise TypeError(
                f"{model_or_layer.name!r} holds channel groups coupled through a merge and is called once per "
                "group in its model; strip the model that calls it instead."
            )
        stripped = _stripped_layer(model_or_layer)
        return keras.Sequential(stripped.layers) if isinstance(stripped, Chain) else stripped
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise TypeError(f"strip() expects a keras.Model or layer, got {type(model_or_layer).__name__}.")
    if not (isinstance(model_or_layer, keras.Model) and is_graph_model(model_or_layer)):
        raise TypeError(
            f"strip() cannot rebuild the subclassed model {model_or_layer.name!r}. Strip its layers: "
            "replace each wrapper attribute by keras_ltp.strip(wrapper), or build the "
            "model as a Functional model."
        )
    return clone_graph(
        model_or_layer,
        lambda layer: _stripped_layer(layer) if isinstance(layer, PrunableWrapper) else copy_layer(layer),
    )


def _stripped_layer(wrapper):
    """The wrapped layer with its masked values baked in; a channel group
    (producer and followers, see `keras_ltp.channel_groups`) comes back as
    a `Chain` of its layers, so the stripped graph has them side by side
    again, as before `prune()`, and coupled groups as a `Dispatch` to
    each group's `Chain`."""
    masked = {key: keras.ops.convert_to_numpy(value) for key, value in wrapper.hard_masked_values().items()}
    if isinstance(wrapper.layer, CoupledChannels):
        return Dispatch(_baked(member, masked, grouped=True) for member in wrapper.layer.members)
    return _baked(wrapper.layer, masked, grouped=wrapper.granularity == "channel")


def _baked(inner, masked, grouped):
    """A copy of `inner` with the `masked` values; a `keras.Sequential`
    channel group (when `grouped`) as a `Chain` of its layers."""
    grouped = grouped and isinstance(inner, keras.Sequential)
    copies = []
    for part in inner.layers if grouped else [inner]:
        copy = copy_layer(part)
        copy.set_weights(
            [
                np.asarray(masked[id(w)]).astype(w.dtype) if id(w) in masked else keras.ops.convert_to_numpy(w.value)
                for w in part.weights
            ]
        )
        copies.append(copy)
    return Chain(copies) if grouped else copies[0]
