"""Which weights of a layer are pruned, and how a custom layer opts in.

One general rule covers the built-in layers: a weight is prunable when its
name is one of `DEFAULT_PRUNABLE_NAMES` (Dense/EinsumDense/Conv*/Conv*Transpose
`kernel`, DepthwiseConv `depthwise_kernel`, SeparableConv `depthwise_kernel` and
`pointwise_kernel`, Embedding `embeddings`, LSTM/GRU/SimpleRNN `kernel` and
`recurrent_kernel`). The rule walks nested layers, so MultiHeadAttention (its
query/key/value/output EinsumDense kernels), Bidirectional, TimeDistributed,
RNN cells and user subclasses of any of these are covered without special
cases. Biases, normalization parameters and LoRA factors are never matched;
frozen weights are not pruned, except the base kernel of a layer with LoRA
enabled (`enable_lora`, which freezes it): that kernel is masked and the
low-rank update `A @ B` is added to it dense, and keeps training.

A custom layer opts in, in order of precedence, by

1. defining `get_prunable_weights(self) -> list[Variable]`, or
2. a class attribute `prunable_weight_names = ("w", ...)`, or
3. `keras_ltp.register_prunable(LayerClass, ("w", ...))`.
"""

import math

import keras

from keras_ltp.walk import iter_layers, own_variables

__all__ = ["DEFAULT_PRUNABLE_NAMES", "prunable_count", "prunable_weights", "register_prunable"]

DEFAULT_PRUNABLE_NAMES = frozenset(
    {
        "kernel",
        "recurrent_kernel",
        "depthwise_kernel",
        "pointwise_kernel",
        "embeddings",
    }
)

_REGISTRY = {}


def register_prunable(layer_class, weight_names):
    """Declares which weights of `layer_class` (and its subclasses) to prune.

    Args:
        layer_class: a `keras.layers.Layer` subclass.
        weight_names: iterable of variable names (as in `variable.name`).

    Returns:
        `layer_class`, so this can decorate a class definition.

    Example:
    >>> import keras, keras_ltp
    >>> class Scale(keras.layers.Layer):
    ...     def build(self, shape):
    ...         self.w = self.add_weight(shape=shape[-1:], name="w")
    ...     def call(self, x):
    ...         return x * self.w
    >>> _ = keras_ltp.register_prunable(Scale, ["w"])
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(f"register_prunable() expects a keras.layers.Layer subclass, got {layer_class!r}.")
    names = tuple(weight_names) if not isinstance(weight_names, str) else (weight_names,)
    if not names:
        raise ValueError(f"register_prunable({layer_class.__name__}): give at least one weight name.")
    _REGISTRY[layer_class] = frozenset(names)
    return layer_class


def _names_for(layer):
    declared = getattr(layer, "prunable_weight_names", None)
    if declared is not None:
        return frozenset((declared,) if isinstance(declared, str) else declared)
    for cls in type(layer).__mro__:
        if cls in _REGISTRY:
            return _REGISTRY[cls]
    return None


def prunable_weights(layer):
    """Lists the variables of `layer` that LTP prunes (nested layers included).

    Args:
        layer: a built `keras.layers.Layer`.

    Returns:
        A list of distinct `keras.Variable`, in a stable order.
    """
    found, seen = [], set()

    def add(variable):
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)

    if callable(getattr(layer, "get_prunable_weights", None)):
        for variable in layer.get_prunable_weights():
            add(variable)
        return found
    for sublayer in iter_layers(layer, depth_first=True):
        custom = callable(getattr(sublayer, "get_prunable_weights", None))
        if custom and sublayer is not layer:
            for variable in sublayer.get_prunable_weights():
                add(variable)
            continue
        names = _names_for(sublayer)
        for variable in own_variables(sublayer):
            name = variable.name.split("/")[-1]
            if names is not None:
                if name in names:
                    add(variable)
            elif name in DEFAULT_PRUNABLE_NAMES and (
                variable.trainable or (getattr(sublayer, "lora_enabled", False) and sublayer.trainable)
            ):
                add(variable)  # LoRA freezes the base kernel; it is still pruned
    return found


def prunable_count(layer):
    """The number of prunable weights (elements) of `layer`: the sizes of
    `prunable_weights(layer)` added up."""
    return int(sum(math.prod(w.shape) for w in prunable_weights(layer)))
