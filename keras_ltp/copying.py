"""Copying layers and rebuilding graph models around replaced layers."""

import inspect
import json

import keras

from keras_ltp.walk import is_graph_model, iter_layers

__all__ = [
    "Chain",
    "Dispatch",
    "LayerCopier",
    "LayerCopyError",
    "build_config_rebuilds",
    "clone_graph",
    "copy_layer",
    "leaf_layers",
    "loadable_config",
    "match_lora",
    "model_twin",
    "overrides_get_config",
    "repaired_config",
    "same_config",
    "same_layer",
    "sharing_layers",
]

# Keyword arguments `keras.layers.Layer.__init__` takes through **kwargs.
_LAYER_KWARGS = ("input_dim", "input_shape")


class LayerCopyError(TypeError):
    """A layer cannot be copied: its config does not round-trip."""


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

    Libraries' layer configs are not always exact. Where
    `from_config(get_config())` fails, the copy is retried with the config
    repaired (`repaired_config`: keys no constructor takes dropped, required
    arguments missing from it read from the layer's same-named attributes);
    where the build config does not rebuild every weight (a layer built from
    several inputs), the copy is built by calling it on symbolic inputs like
    those of the layer's first call. A repaired copy is kept only if its
    config equals the original's and its weights have the same shapes.

    Functional graphs also hold plain operations (`x + y` makes a
    `keras.ops` Add node); those have no state and are copied by config.

    Args:
        layer: a `keras.layers.Layer` or a Keras operation.

    Returns:
        The copy, built and with the same weights when `layer` is built.

    Raises:
        LayerCopyError (a TypeError): no such copy can be made; names the
            layer and why.
    """
    if not isinstance(layer, keras.layers.Layer):
        return layer.__class__.from_config(layer.get_config())
    try:
        config = layer.get_config()
    except Exception as error:  # noqa: BLE001 - re-raised with the layer named
        raise LayerCopyError(_cannot_copy(layer, f"its get_config() failed: {error!r}")) from error
    if not isinstance(config, dict):
        raise LayerCopyError(_cannot_copy(layer, f"its get_config() returned {type(config).__name__}, not a dict"))
    repaired = config
    try:
        copy = _built_copy(layer, config)
    except Exception as error:  # noqa: BLE001 - retried, or re-raised with the layer named
        repaired = repaired_config(layer, config)
        if repaired is config:
            raise LayerCopyError(_cannot_copy(layer, f"from_config(get_config()) failed: {error}")) from error
        try:
            copy = _built_copy(layer, repaired)
        except Exception as retry_error:  # noqa: BLE001 - re-raised with the layer named
            raise LayerCopyError(
                _cannot_copy(layer, f"from_config(get_config()) failed ({error}), and repaired too: {retry_error}")
            ) from retry_error
    if layer.built:
        try:
            copy.set_weights(layer.get_weights())
        except ValueError as error:
            raise LayerCopyError(
                _cannot_copy(layer, f"its copy's weights do not match the original's: {error}")
            ) from error
    filled = [key for key in repaired if key not in config]
    if repaired is not config and (
        _plain(copy.get_config()) != _plain(config)
        or any(_plain(getattr(copy, key, None)) != _plain(getattr(layer, key)) for key in filled)
    ):
        raise LayerCopyError(
            _cannot_copy(layer, "its config does not round-trip, and the repaired config builds a different layer")
        )
    return copy


def loadable_config(layer, config):
    """`config` (`layer.get_config()`) if `from_config` accepts it, else
    `repaired_config(layer, config)`.

    Args:
        layer: a `keras.layers.Layer`.
        config: its config dict (serialized or not).

    Returns:
        A config dict.
    """
    repaired = repaired_config(layer, config)
    if repaired is config:
        return config
    try:
        type(layer).from_config(config)
    except Exception:  # noqa: BLE001 - any failure: the file would not load as it is
        try:
            type(layer).from_config(repaired)
        except Exception:  # noqa: BLE001 - neither loads: keep the layer's own config
            return config
        return repaired
    return config


def repaired_config(layer, config=None):
    """`layer`'s config, repaired where the default `from_config` would
    reject it: keys that no `__init__` in the class's MRO takes are dropped
    (derived values, such as KerasHub's ViT patching layer's
    `num_patches`), and required constructor arguments missing from it are
    read from the layer's attributes of the same name. Classes that override
    `from_config` get their config as is.

    Args:
        layer: a `keras.layers.Layer`.
        config: optional, `layer.get_config()` if already computed.

    Returns:
        `config` itself where nothing needs repairing, else a repaired copy.
    """
    config = layer.get_config() if config is None else config
    layer_class = type(layer)
    if not isinstance(config, dict):
        return config
    if getattr(layer_class.from_config, "__func__", None) is not keras.layers.Layer.from_config.__func__:
        return config
    accepted, required = set(_LAYER_KWARGS), None
    for klass in layer_class.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            params = [p for p in inspect.signature(init).parameters.values() if p.name != "self"]
        except (TypeError, ValueError):
            return config
        named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        accepted.update(p.name for p in named)
        if required is None:  # the arguments from_config(config) must supply (a base's, the class supplies)
            required = [p.name for p in named if p.default is p.empty]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    dropped = set(config) - accepted
    missing = {
        name: getattr(layer, name)
        for name in required or ()
        if name not in config and hasattr(layer, name) and _is_plain(getattr(layer, name))
    }
    if not dropped and not missing:
        return config
    repaired = {key: value for key, value in config.items() if key not in dropped}
    repaired.update(missing)
    return repaired


def _built_copy(layer, config):
    """A new layer from `config`, built as `layer` is: from its build config,
    and where that leaves weights out (a layer built from several inputs), by
    calling a fresh one on symbolic inputs like the layer's first call's."""
    copy = layer.__class__.from_config(config)
    if not layer.built:
        return copy
    build_config = layer.get_build_config()
    if build_config and not copy.built:
        copy.build_from_config(build_config)
    match_lora(copy, layer)
    nodes = getattr(layer, "_inbound_nodes", None)
    if _shapes(copy) == _shapes(layer) or not nodes:
        return copy  # (if shapes differ, set_weights will say which)
    fresh = lambda x: keras.KerasTensor(x.shape, x.dtype, sparse=x.sparse) if isinstance(x, keras.KerasTensor) else x  # noqa: E731
    copy = layer.__class__.from_config(config)
    copy(
        *keras.tree.map_structure(fresh, nodes[0].arguments.args),
        **keras.tree.map_structure(fresh, nodes[0].arguments.kwargs),
    )
    match_lora(copy, layer)
    return copy


def build_config_rebuilds(layer):
    """Whether a new layer from `layer`'s config, built from its build
    config, has `layer`'s weight shapes (False where that fails: a layer
    built from several inputs, or a config that does not round-trip).

    Args:
        layer: a built `keras.layers.Layer`.

    Returns:
        A bool.
    """
    try:
        copy = layer.__class__.from_config(loadable_config(layer, layer.get_config()))
        # As a file gives it back: JSON, tuples turned into lists.
        build_config = json.loads(json.dumps(layer.get_build_config()))
        if build_config and not copy.built:
            copy.build_from_config(build_config)
        match_lora(copy, layer)
    except Exception:  # noqa: BLE001 - any failure: it does not rebuild
        return False
    return _shapes(copy) == _shapes(layer)


def match_lora(copy, original):
    """Enables LoRA on each sublayer of `copy` whose counterpart in
    `original` has it (`enable_lora` is not part of a composite layer's
    config), with the same rank and alpha, so their weights match.

    Args:
        copy: a layer made from `original`'s config.
        original: the layer it copies.
    """
    for mine, theirs in zip(iter_layers(copy), iter_layers(original)):
        if getattr(theirs, "lora_enabled", False) and not getattr(mine, "lora_enabled", False):
            mine.enable_lora(theirs.lora_rank, lora_alpha=theirs.lora_alpha)


def same_layer(a, b):
    """Whether layers `a` and `b` have the same class, weight shapes and
    config (`same_config`): one rebuilt from the other's model config stands
    in for it."""
    return type(a) is type(b) and _shapes(a) == _shapes(b) and same_config(a, b)


def same_config(a, b):
    """Whether layers `a` and `b` have equal configs, names and `trainable`
    (state, not architecture) aside; True where either config cannot be
    read (nothing to compare)."""
    try:
        config_a, config_b = dict(a.get_config()), dict(b.get_config())
    except Exception:  # noqa: BLE001 - a library layer whose get_config() fails
        return True
    for key in ("name", "trainable"):
        config_a.pop(key, None)
        config_b.pop(key, None)
    return _plain(config_a) == _plain(config_b)


def _shapes(layer):
    return [tuple(w.shape) for w in layer.weights]


def _is_plain(value):
    """Whether `value` is a JSON-like constant (what a config may hold without
    sharing state): None, bool, number, string, or lists/tuples/dicts of them."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain(value):
    """`value` with tuples as lists and objects (initializers, ...) as their
    class and config, for comparing configs."""
    if hasattr(value, "get_config") and callable(value.get_config) and not isinstance(value, type):
        try:
            return {"class": type(value).__name__, "config": _plain(value.get_config())}
        except Exception:  # noqa: BLE001 - compared by identity then
            return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cannot_copy(layer, why):
    return (
        f"Cannot copy layer {layer.name!r} ({type(layer).__name__}): {why.rstrip('.')}. Give the layer a complete "
        "get_config(), or prune the model's own layers with keras_ltp.prune(model, in_place=True) "
        "(the pruned model then shares its weights with the given one)."
    )


def sharing_layers(layers):
    """`{id(layer): [the other layers it shares a variable with]}` for those
    of `layers` (a list) that share a variable (a composite layer that holds
    a layer used elsewhere in the model); layers that share none are left out."""
    sharing = {}
    for entry in _holders(layers):
        # A layer listed twice (called inside and outside a nested model) shares nothing with itself.
        holders = list({id(layers[i]): layers[i] for i, _ in entry}.values())
        for layer in holders if len(holders) > 1 else []:
            others = sharing.setdefault(id(layer), [])
            others.extend(other for other in holders if other is not layer and other not in others)
    return sharing


def _holders(layers):
    """For each variable of `layers`, the `(layer index, weight index)` pairs that hold it."""
    holders = {}
    for i, layer in enumerate(layers):
        for j, variable in enumerate(layer.weights):
            holders.setdefault(id(variable), []).append((i, j))
    return list(holders.values())


class LayerCopier:
    """Copies the leaf layers of `model`, each by its own config
    (`copy_layer`); a layer that cannot be copied so, or that shares a
    variable with another layer (copies made one by one would not share
    it), is taken from one copy of the whole model made through the model's
    own serialization (`model_twin`: a KerasHub backbone rebuilds its layers
    from its own config, shared variables included), or with `in_place`
    every layer is used as it is.

    Args:
        model: the model whose layers are copied.
        in_place: return each layer itself (no copy).

    Attributes:
        copies: `{id(original layer): its copy}`, for every layer copied.
    """

    def __init__(self, model, in_place=False):
        self.model = model
        self.in_place = in_place
        self.copies = {}
        self._twins = None
        leaves = list(leaf_layers(model)) if isinstance(model, keras.Model) else []
        self._sharing = {} if in_place else sharing_layers(leaves)

    def __call__(self, layer):
        if self.in_place or not isinstance(layer, keras.layers.Layer):
            copy = layer if self.in_place else copy_layer(layer)
        elif id(layer) in self._sharing:
            names = ", ".join(repr(other.name) for other in self._sharing[id(layer)])
            copy = self._twin_of(
                layer,
                LayerCopyError(
                    f"Cannot copy layer {layer.name!r} ({type(layer).__name__}) on its own: it shares variables "
                    f"with {names}, and copies made one by one would not share them. Prune the model's own layers "
                    "with keras_ltp.prune(model, in_place=True) (the pruned model then shares its weights with the "
                    "given one), or give the model a class whose config rebuilds the sharing (as KerasHub's do)."
                ),
            )
        else:
            try:
                copy = copy_layer(layer)
            except LayerCopyError as error:
                copy = self._twin_of(layer, error)
        self.copies[id(layer)] = copy
        return copy

    def _twin_of(self, layer, error):
        if self._twins is None:
            if not isinstance(self.model, keras.Model):
                raise error
            try:
                twin = model_twin(self.model)
            except (TypeError, ValueError) as twin_error:
                raise LayerCopyError(f"{error} Copying the whole model failed too: {twin_error}") from twin_error
            self._twins = dict(zip(map(id, leaf_layers(self.model)), leaf_layers(twin)))
        if id(layer) not in self._twins:
            raise error
        return self._twins[id(layer)]


def model_twin(model):
    """An independent copy of `model` made through its own serialization
    (`get_config`, `from_config`), with the same weights, or raises.

    Args:
        model: a `keras.Model`.

    Returns:
        The copy; its leaf layers (`leaf_layers`) match `model`'s one to one.

    Raises:
        TypeError: the model does not rebuild from its serialization, or
            rebuilds with other layers.
    """
    try:
        twin = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    except Exception as error:  # noqa: BLE001 - re-raised with the model named
        raise TypeError(f"model {model.name!r} does not rebuild from its serialization: {error}") from error
    originals, copies = list(leaf_layers(model)), list(leaf_layers(twin))
    for original, copy in zip(originals, copies):
        match_lora(copy, original)
    if len(originals) != len(copies):
        raise TypeError(f"model {model.name!r} rebuilds from its serialization with other layers.")
    for original, copy in zip(originals, copies):
        if not same_layer(original, copy):
            raise TypeError(
                f"model {model.name!r} rebuilds layer {original.name!r} from its serialization with another "
                "class, weight shapes or config."
            )
    if _sharing_pattern(originals) != _sharing_pattern(copies):
        raise TypeError(f"model {model.name!r} rebuilds from its serialization without the variables its layers share.")
    for original, copy in zip(originals, copies):
        copy.set_weights(original.get_weights())
        copy.trainable = original.trainable
    return twin


def _sharing_pattern(layers):
    """Which (layer index, weight index) pairs hold one variable, where more than one does."""
    return sorted(entry for entry in _holders(layers) if len(entry) > 1)


def overrides_get_config(model):
    """Whether `model`'s class has a config of its own (a KerasHub backbone
    or task) rather than Keras' Functional/Sequential graph config."""
    for klass in type(model).__mro__:
        if "get_config" in vars(klass):
            return not klass.__module__.startswith("keras.")
    return False


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
