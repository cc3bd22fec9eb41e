"""`strip()`: a plain Keras model with the hard masks baked into the weights."""

import keras
import numpy as np

from keras_ltp.copying import (
    Chain,
    Dispatch,
    LayerCopyError,
    clone_graph,
    copy_layer,
    leaf_layers,
    match_lora,
    same_layer,
)
from keras_ltp.coupled import CoupledChannels
from keras_ltp.walk import is_graph_model
from keras_ltp.wrapper import PrunableWrapper, iter_wrappers

__all__ = ["strip"]


def strip(model_or_layer):
    """Returns a plain Keras model with the hard masks baked into the weights.

    Every `PrunableWrapper` is replaced by a copy of its original layer (same
    class and config as before `prune()`) whose pruned weights are
    `w * (w^2 > tau)`. Nothing from keras_ltp remains in the result, and the
    given model is not modified.

    A model that `prune()` made, in this process, from a model whose class
    has a config of its own (a KerasHub backbone or task) comes back as that
    class, rebuilt from its config with the masked weights: it saves and
    loads as the original does, and its library's API (presets, tasks) keeps
    working on it; a task's preprocessor (whose vocabulary lives in asset
    files, not in its config) is the original's, shared.

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
    rebuilt = _rebuilt(model_or_layer, getattr(model_or_layer, "ltp_source", None))
    if rebuilt is not None:
        return rebuilt
    try:
        return clone_graph(
            model_or_layer,
            lambda layer: _stripped_layer(layer) if isinstance(layer, PrunableWrapper) else copy_layer(layer),
        )
    except LayerCopyError as error:
        raise LayerCopyError(
            f"{error} strip() rebuilds such a layer through its model's own config only for a model that "
            "keras_ltp.prune() made in this process from a model that has one (a KerasHub backbone)."
        ) from error


def _rebuilt(model, source):
    """`source["config"]`'s model (the model `prune()` was given), with the
    weights of its layers' copies in `model`, masked as inference masks them;
    None where there is no source, or the config does not rebuild the same
    layers (a library model whose config is not exact)."""
    if source is None:
        return None
    try:
        rebuilt = keras.saving.deserialize_keras_object(source["config"])
    except Exception:  # noqa: BLE001 - the caller rebuilds the graph layer by layer instead
        return None
    layers = list(leaf_layers(rebuilt))
    pairs = [(layer, copy) for layer, copy in zip(layers, source["layers"]) if copy is not None]
    for layer, copy in pairs:
        match_lora(layer, copy)
    if len(layers) != len(source["layers"]) or not all(same_layer(layer, copy) for layer, copy in pairs):
        return None
    masked = {}
    for wrapper in iter_wrappers(model):
        masked.update(wrapper.hard_masked_values())
    for layer, copy in pairs:
        layer.set_weights([_value(w, masked) for w in copy.weights])
        layer.trainable = copy.trainable
    if source.get("preprocessor") is not None:
        rebuilt.preprocessor = source["preprocessor"]
    return rebuilt


def _value(variable, masked):
    """`variable`'s value as a numpy array of its dtype, `masked` where it has a masked value."""
    value = masked.get(id(variable), variable.value)
    return np.asarray(keras.ops.convert_to_numpy(value)).astype(variable.dtype)


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
        copy.set_weights([_value(w, masked) for w in part.weights])
        copies.append(copy)
    return Chain(copies) if grouped else copies[0]
