"""Walking the layers of a model: the one traversal keras_ltp uses, and the
only module that touches private Keras APIs (each use says why).

Keras 3 has no public way to list a layer's direct sub-layers, those held in
attributes, lists and nested models (`Layer._flatten_layers` is what Keras
itself uses for this), nor a layer's own variables without those of its
sub-layers, nor a public Functional class.
"""

import collections

import keras
from keras.src.models.functional import Functional  # no public class: keras.Model(...) returns one

__all__ = ["child_layers", "is_graph_model", "iter_layers", "own_variables"]


def child_layers(layer):
    """The layers `layer` holds directly (attributes, lists, nested models).

    Args:
        layer: a `keras.layers.Layer`.

    Returns:
        A list of layers, in Keras' own order.
    """
    return list(layer._flatten_layers(include_self=False, recursive=False))


def own_variables(layer):
    """The variables `layer` created itself, not those of its sub-layers.

    Args:
        layer: a `keras.layers.Layer`.

    Returns:
        A list of `keras.Variable`: trainable ones first.
    """
    return list(layer._trainable_variables) + list(layer._non_trainable_variables)


def iter_layers(root, descend=None, depth_first=False):
    """Yields `root` and every layer nested in it, each once.

    Args:
        root: a layer or model.
        descend: optional callable `layer -> bool`; where it returns False the
            layer is yielded but what it holds is not visited.
        depth_first: visit a layer's sub-layers before its siblings (pre-order)
            instead of level by level.

    Yields:
        Layers, `root` first.

    Example:
    >>> import keras
    >>> from keras_ltp.walk import iter_layers
    >>> inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="d")], name="inner")
    >>> [layer.name for layer in iter_layers(keras.Sequential([inner], name="outer"))]
    ['outer', 'inner', 'input_layer', 'd']
    """
    seen = set()
    pending = collections.deque([root])
    while pending:
        layer = pending.popleft()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if descend is not None and not descend(layer):
            continue
        children = child_layers(layer)
        if depth_first:
            pending.extendleft(reversed(children))
        else:
            pending.extend(children)


def is_graph_model(model):
    """True for Sequential and Functional models, which `clone_model` rebuilds
    (subclassed models cannot be rebuilt from outside)."""
    return isinstance(model, (keras.Sequential, Functional))
