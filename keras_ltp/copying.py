"""Copying layers and rebuilding graph models around replaced layers."""

import keras

from keras_ltp.walk import is_graph_model

__all__ = ["clone_graph", "copy_layer", "leaf_layers"]


def copy_layer(layer):
    """An independent copy of `layer`: same class, config and weights.

    Functional graphs also hold plain operations (`x + y` makes a
    `keras.ops` Add node); those have no state and are copied by config.

    Args:
        layer: a `keras.layers.Layer` or a Keras operation.

    Returns:
        The copy, built and with the same weights when `layer` is built.

    Raises:
        TypeError: the layer's config does not round-trip; names the layer.
    """
    if not isinstance(layer, keras.layers.Layer):
        return layer.__class__.from_config(layer.get_config())
    try:
        copy = layer.__class__.from_config(layer.get_config())
    except Exception as error:  # noqa: BLE001 - re-raised with the layer named
        raise TypeError(
            f"Cannot copy layer {layer.name!r} ({type(layer).__name__}) through "
            f"get_config()/from_config(): {error}. Give the layer a complete "
            "get_config(), or wrap it yourself with keras_ltp.PrunableWrapper."
        ) from error
    if layer.built:
        if not copy.built:
            build_config = layer.get_build_config()
            if build_config:
                copy.build_from_config(build_config)
        copy.set_weights(layer.get_weights())
    return copy


def leaf_layers(model):
    """Yields the layers of a graph model, descending into nested graph models.

    Args:
        model: a Sequential or Functional model.

    Yields:
        Every layer that is not itself a Sequential or Functional model.
    """
    for layer in model.layers:
        if isinstance(layer, keras.Model) and is_graph_model(layer):
            yield from leaf_layers(layer)
        else:
            yield layer


def clone_graph(model, replace):
    """Rebuilds a graph model (nested graph models included) with every leaf
    layer replaced by `replace(layer)`; shared layers stay shared.

    Args:
        model: a Sequential or Functional model.
        replace: callable `layer -> layer`.

    Returns:
        A new model.
    """
    return keras.models.clone_model(model, clone_function=replace, recursive=True)
