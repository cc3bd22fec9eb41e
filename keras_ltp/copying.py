"""Copying layers and rebuilding graph models around replaced layers."""

import keras

from keras_ltp.walk import is_graph_model

__all__ = ["Chain", "Dispatch", "clone_graph", "copy_layer", "leaf_layers"]


class Chain:
    """What `clone_graph`'s `replace` returns to put several layers (called in
    sequence) in the place of one, or none (`Chain([])`: the input passes
    through). The call's keyword arguments go to the first layer."""

    def __init__(self, layers):
        self.layers = list(layers)

    def __call__(self, x, *args, **kwargs):
        if not self.layers:
            return x
        x = self.layers[0](x, *args, **kwargs)
        for layer in self.layers[1:]:
            x = layer(x)
        return x


class Dispatch:
    """What `clone_graph`'s `replace` returns for a layer whose calls pass a
    `member` index (`keras_ltp.CoupledChannels`): call `member` goes to
    `targets[member]`."""

    def __init__(self, targets):
        self.targets = list(targets)

    def __call__(self, x, *args, member=0, **kwargs):
        return self.targets[member](x, *args, **kwargs)


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


def clone_graph(model, replace, nested=None, _cache=None):
    """Rebuilds a graph model (nested graph models included) with every leaf
    layer replaced by `replace(layer)`; shared layers stay shared.

    Args:
        model: a Sequential or Functional model.
        replace: callable `layer -> layer | Chain`.
        nested: optional callable `graph model -> model` for nested graph
            models (default: `clone_graph(nested_model, replace)`).

    Returns:
        A new model.
    """
    cache = {} if _cache is None else _cache  # shared with nested models: a layer used in both stays one layer

    def clone_function(layer):
        if id(layer) not in cache:
            if isinstance(layer, keras.Model) and is_graph_model(layer):
                cache[id(layer)] = nested(layer) if nested else clone_graph(layer, replace, _cache=cache)
            else:
                cache[id(layer)] = replace(layer)
        return cache[id(layer)]

    if isinstance(model, keras.Sequential):
        replaced = [clone_function(layer) for layer in model.layers]
        if not any(isinstance(r, Chain) for r in replaced):
            return keras.models.clone_model(model, clone_function=clone_function)
        layers = [x for r in replaced for x in (r.layers if isinstance(r, Chain) else [r])]
        inputs = [keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype)] if model.built else []
        return keras.Sequential(inputs + layers, name=model.name)
    return keras.models.clone_model(model, clone_function=clone_function)
