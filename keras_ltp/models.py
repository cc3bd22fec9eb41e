"""Whole-model operations: `prune`, `strip`, `sparsity`, finding wrappers."""

import math
import warnings

import keras
import numpy as np

from keras_ltp.registry import prunable_weights
from keras_ltp.walk import is_graph_model as _is_graph_model
from keras_ltp.walk import iter_layers
from keras_ltp.wrapper import PrunableWrapper

__all__ = ["SparsityReport", "iter_wrappers", "prune", "sparsity", "strip"]

_COSTS = ("params", "flops")


def iter_wrappers(model_or_layer):
    """Yields every `PrunableWrapper` in `model_or_layer`, however deeply nested.

    Works for Sequential, Functional and subclassed models (wrappers held as
    attributes, in lists or in nested models), and for a bare wrapper. A shared
    wrapper is yielded once.
    """
    not_a_wrapper = lambda layer: not isinstance(layer, PrunableWrapper)  # noqa: E731
    for layer in iter_layers(model_or_layer, descend=not_a_wrapper):
        if isinstance(layer, PrunableWrapper):
            yield layer


def _copy_layer(layer):
    """An independent copy of `layer`: same class, config and weights.

    Functional graphs also hold plain operations (`x + y` makes a
    `keras.ops` Add node); those have no state and are copied by config.
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


def _flops_per_weight(layer):
    """Multiply-adds one weight costs per example: the output's spatial size."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return 1.0
    shape = tuple(d for d in shape[1:-1] if d is not None)
    return float(math.prod(shape)) if shape else 1.0


def _layer_cost(layer, cost):
    if callable(cost):
        value = cost(layer)
    elif cost == "flops":
        value = _flops_per_weight(layer)
    else:
        value = 1.0
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"cost for layer {layer.name!r} must be a finite number > 0, got {value!r}."
        )
    return float(value)


def _check_not_pruned(target):
    for wrapper in iter_wrappers(target):
        raise ValueError(
            f"{target.name!r} already contains the PrunableWrapper {wrapper.name!r}. "
            "prune() takes an unpruned model; to keep training a pruned one, "
            "compile and fit it, or call keras_ltp.strip() first to start over."
        )


def prune(model_or_layer, layer_options=None, *, cost="params", **options):
    """Returns a copy of a model (or layer) with its prunable layers wrapped.

    The given model is not modified: every layer is copied with its weights.
    Layers without prunable weights stay as they are (copied); shared layers
    stay shared; nested Sequential/Functional models (e.g. a
    `keras.applications` backbone) are pruned inside. The soft-L0 terms are
    normalised over the whole model, so with `cost="params"` the regularizer
    is `lambda * (fraction of prunable weights kept)`.

    Subclassed models cannot be rebuilt from outside: wrap their layers in
    `__init__` instead (`self.fc = keras_ltp.prune(keras.layers.Dense(10))`);
    callbacks and `sparsity()` find such wrappers wherever they are.

    Args:
        model_or_layer: a `keras.Model` (Sequential or Functional) or a layer.
        layer_options: optional callable `layer -> dict | None`, called for
            each layer with prunable weights: `None` leaves the layer dense,
            a dict overrides `options` for that layer.
        cost: what the regularizer counts: `"params"` (each weight costs 1),
            `"flops"` (each weight costs its multiply-adds per example, i.e.
            the layer's output spatial size), or a callable `layer -> float`.
        **options: `PrunableWrapper` arguments applied to every pruned layer
            (`l0_strength`, `temperature`, `initial_threshold`).

    Returns:
        A new model (or a `PrunableWrapper` when given a layer), ready to
        compile.

    Example:
    >>> import keras, keras_ltp
    >>> dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4),
    ...                           keras.layers.Dense(2)])
    >>> pruned = keras_ltp.prune(dense, lambda l: None if l.name == "dense_last"
    ...                          else {}, l0_strength=0.5)
    >>> [type(l).__name__ for l in pruned.layers]
    ['PrunableWrapper', 'PrunableWrapper']
    """
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise TypeError(
            "prune() expects a keras.Model or keras.layers.Layer, got "
            f"{type(model_or_layer).__name__}. Build or load the Keras model first."
        )
    if layer_options is not None and not callable(layer_options):
        raise TypeError(
            "layer_options must be a callable `layer -> dict | None`; pass options "
            f"for every layer as keyword arguments instead. Got {layer_options!r}."
        )
    if not (callable(cost) or cost in _COSTS):
        raise ValueError(f"cost must be one of {_COSTS} or a callable, got {cost!r}.")
    if isinstance(model_or_layer, PrunableWrapper):
        raise ValueError(
            f"{model_or_layer.name!r} is already a PrunableWrapper; prune() takes "
            "the original layer."
        )
    _check_not_pruned(model_or_layer)
    _warn_if_outside_strategy(model_or_layer)

    plans = {}  # id(original layer) -> (options, cost)

    def plan(layer):
        if isinstance(layer, keras.Model) and _is_graph_model(layer):
            return None
        if not layer.built or not prunable_weights(layer):
            return None
        chosen = dict(options)
        if layer_options is not None:
            extra = layer_options(layer)
            if extra is None:
                return None
            if not isinstance(extra, dict):
                raise TypeError(
                    f"layer_options({layer.name!r}) must return a dict or None, "
                    f"got {type(extra).__name__}."
                )
            chosen.update(extra)
        return chosen, _layer_cost(layer, cost)

    is_model = isinstance(model_or_layer, keras.Model) and _is_graph_model(model_or_layer)
    if not is_model:
        if isinstance(model_or_layer, keras.Model):
            raise TypeError(_SUBCLASSED_MESSAGE.format(name=model_or_layer.name))
        layer = model_or_layer
        if layer.built and not prunable_weights(layer):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no prunable "
                "weights: there is nothing to prune. See keras_ltp.register_prunable "
                "to declare the weights of a custom layer."
            )
        chosen = dict(options)
        if layer_options is not None:
            extra = layer_options(layer)
            if extra is None:
                raise ValueError(
                    f"layer_options returned None for {layer.name!r}, the only layer "
                    "given to prune(): there is nothing left to prune."
                )
            chosen.update(extra)
        return PrunableWrapper(_copy_layer(layer), **chosen)

    for layer in _leaf_layers(model_or_layer):
        decision = plan(layer)
        if decision is not None:
            plans[id(layer)] = (decision, layer)
    if not plans:
        raise ValueError(
            f"Model {model_or_layer.name!r} has no layer with prunable weights "
            "(or layer_options returned None for all of them). Nothing to prune."
        )
    total = 0.0
    for (chosen, layer_cost), layer in plans.values():
        weight = chosen.get("l0_weight", layer_cost)
        chosen["l0_weight"] = weight
        total += weight * sum(math.prod(w.shape) for w in prunable_weights(layer))
    for (chosen, _), _layer in plans.values():
        chosen.setdefault("l0_normalizer", total)

    def clone(layer):
        if id(layer) in plans:
            (chosen, _), _ = plans[id(layer)]
            return PrunableWrapper(_copy_layer(layer), **chosen)
        return _copy_layer(layer)

    return _clone(model_or_layer, clone)


def _warn_if_outside_strategy(model_or_layer):
    """prune() copies: a copy made outside the strategy's scope of a model
    whose variables are distributed silently trains on one device."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return
    for variable in model_or_layer.weights:
        value = getattr(variable, "value", None)
        if isinstance(value, tf.distribute.DistributedValues):
            warnings.warn(
                f"{model_or_layer.name!r} was built under a tf.distribute strategy, "
                "but prune() runs outside its scope: the pruned copy's variables "
                "are created on one device and it will train on one device. Call "
                "prune() (and compile()) inside `with strategy.scope():`.",
                UserWarning,
                stacklevel=3,
            )
            return


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
        return _stripped_layer(model_or_layer)
    if not isinstance(model_or_layer, keras.layers.Layer):
        raise TypeError(
            f"strip() expects a keras.Model or layer, got {type(model_or_layer).__name__}."
        )
    if not (isinstance(model_or_layer, keras.Model) and _is_graph_model(model_or_layer)):
        raise TypeError(_SUBCLASSED_STRIP_MESSAGE.format(name=model_or_layer.name))

    def clone(layer):
        if isinstance(layer, PrunableWrapper):
            return _stripped_layer(layer)
        return _copy_layer(layer)

    return _clone(model_or_layer, clone)


def _stripped_layer(wrapper):
    inner = wrapper.layer
    copy = _copy_layer(inner)
    masked = {
        id(w): np.asarray(keras.ops.convert_to_numpy(w.value)) * keras.ops.convert_to_numpy(m)
        for w, m in zip(wrapper.pruned_weights, wrapper.hard_masks())
    }
    values = [
        masked[id(w)].astype(w.dtype) if id(w) in masked else keras.ops.convert_to_numpy(w.value)
        for w in inner.weights
    ]
    copy.set_weights(values)
    return copy


class SparsityReport(dict):
    """The result of `keras_ltp.sparsity`: a plain dict that prints as a table."""

    def __str__(self):
        rows = [("weight", "kept", "total", "sparsity", "threshold")]
        for entry in self["weights"]:
            rows.append(
                (
                    entry["weight"],
                    str(entry["kept"]),
                    str(entry["total"]),
                    f"{entry['sparsity']:.2%}",
                    f"{entry['threshold']:.3g}",
                )
            )
        rows.append(
            (
                "overall",
                str(self["kept"]),
                str(self["total"]),
                f"{self['sparsity']:.2%}",
                f"{self['compression']:.1f}x",
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = [
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)


def sparsity(model_or_layer):
    """Hard sparsity of every pruned weight tensor and of the whole model.

    Counts what inference and `strip` use: a weight is kept iff `w^2 > tau`.

    Args:
        model_or_layer: a model or wrapper containing `PrunableWrapper`s.

    Returns:
        A `SparsityReport` (a dict; `print()` shows a table) with keys
        `kept`, `total`, `sparsity` (= 1 - kept / total), `compression`
        (= total / kept), `layers` (per wrapper: `kept`, `total`, `sparsity`)
        and `weights` (a list, per weight tensor: `layer`, `weight`, `kept`,
        `total`, `sparsity`, `threshold` = tau).

    Example:
    >>> import keras, keras_ltp
    >>> layer = keras_ltp.prune(keras.layers.Dense(2))
    >>> layer.build((None, 3))
    >>> keras_ltp.sparsity(layer)["sparsity"]
    0.0
    """
    wrappers = list(iter_wrappers(model_or_layer))
    if not wrappers:
        raise ValueError(
            f"{getattr(model_or_layer, 'name', model_or_layer)!r} contains no "
            "PrunableWrapper; prune it first with keras_ltp.prune()."
        )
    report = SparsityReport(kept=0, total=0, layers={}, weights=[])
    for wrapper in wrappers:
        if not wrapper.built:
            raise ValueError(
                f"PrunableWrapper {wrapper.name!r} is not built yet; call the model "
                "on data (or build it) before asking for its sparsity."
            )
        layer_kept = layer_total = 0
        taus = wrapper.effective_thresholds()
        for w, tau, mask in zip(wrapper.pruned_weights, taus, wrapper.hard_masks(taus)):
            kept = int(keras.ops.convert_to_numpy(keras.ops.sum(mask)))
            total = int(math.prod(w.shape))
            report["weights"].append(
                {
                    "layer": wrapper.name,
                    "weight": w.path,
                    "kept": kept,
                    "total": total,
                    "sparsity": 1.0 - kept / total,
                    "threshold": float(keras.ops.convert_to_numpy(tau)),
                }
            )
            layer_kept += kept
            layer_total += total
        report["layers"][wrapper.name] = {
            "kept": layer_kept,
            "total": layer_total,
            "sparsity": 1.0 - layer_kept / layer_total,
        }
        report["kept"] += layer_kept
        report["total"] += layer_total
    report["sparsity"] = 1.0 - report["kept"] / report["total"]
    report["compression"] = report["total"] / max(report["kept"], 1)
    return report


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model) and _is_graph_model(layer):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _clone(model, clone_function):
    return keras.models.clone_model(model, clone_function=clone_function, recursive=True)


_SUBCLASSED_MESSAGE = (
    "prune() cannot rebuild the subclassed model {name!r} from outside. Wrap its "
    "layers where they are created, e.g. in __init__: "
    "`self.fc = keras_ltp.prune(keras.layers.Dense(10))` (or "
    "keras_ltp.PrunableWrapper(layer)); callbacks and keras_ltp.sparsity() find "
    "those wrappers anywhere in the model."
)

_SUBCLASSED_STRIP_MESSAGE = (
    "strip() cannot rebuild the subclassed model {name!r}. Strip its layers: "
    "replace each wrapper attribute by keras_ltp.strip(wrapper), or build the "
    "model as a Functional model."
)
