"""`prune()`: a copy of a model with its prunable layers wrapped.

Three steps: validate the arguments, plan (which layers to wrap, with which
options and regularizer weight), build (copy the graph with the wrappers).
"""

import functools
import math
import warnings

import keras

from keras_ltp.channel_groups import REACHES_OUTPUT, plan_channel_groups
from keras_ltp.channels import (
    channel_width,
    has_units,
    input_kernels,
    is_attention,
    output_tiles,
    recurrent_kernels,
    weights_per_channel,
)
from keras_ltp.copying import Chain, LayerCopier, clone_graph, leaf_layers, overrides_get_config
from keras_ltp.coupled import CoupledChannels
from keras_ltp.registry import prunable_count, prunable_weights
from keras_ltp.selection import Selection, SparsityBounds
from keras_ltp.walk import is_graph_model, iter_layers
from keras_ltp.wrapper import GRANULARITIES, PrunableWrapper, iter_wrappers

__all__ = ["prune"]

COSTS = ("params", "flops")
FALLBACKS = ("weight", "dense")


def prune(
    model_or_layer,
    layer_options=None,
    *,
    include=None,
    exclude=None,
    sparsity_bounds=None,
    cost="params",
    granularity="weight",
    fallback="weight",
    couple=False,
    in_place=False,
    **options,
):
    """Returns a copy of a model (or layer) with its prunable layers wrapped.

    The given model is not modified: every layer is copied with its weights
    (by its config; where a library layer's config does not round-trip,
    from a copy of the whole model made through its own serialization, as
    a KerasHub backbone rebuilds from its config).
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
            each selected layer with prunable weights: `None` leaves the
            layer dense, a dict overrides `options` for that layer.
        include: which layers to prune (default: all with prunable
            weights): a layer-name glob (`"encoder_*"`, matched with
            `fnmatch` against `layer.name`, nested models' layers
            included), a layer class (its instances and subclasses), or a
            list of them. An entry that matches no layer is an error that
            lists the layer names.
        exclude: the same, for layers to leave dense (applied after
            `include`). `pruned.ltp_skipped` maps each layer with prunable
            weights left dense to why (`include`, `exclude` or
            `layer_options`).
        sparsity_bounds: how far chosen layers may be pruned: a dict
            `{selector: (min_sparsity, max_sparsity)}`, a selector as in
            `include`, e.g. `{"*embedding*": (0.0, 0.5)}` (never prune the
            embeddings beyond 50%). The wrapper keeps each pruned tensor's
            sparsity inside its bounds and `SparsityTarget` steers with
            them (`keras_ltp.PrunableWrapper`, `min_sparsity`). A layer
            matched by several selectors gets the intersection; the layers
            that share one mask (a channel group, coupled groups) get the
            intersection of their layers' bounds. Bounds given here
            override `min_sparsity` / `max_sparsity` in `**options`;
            `layer_options` overrides both.
        cost: what the regularizer counts: `"params"` (each weight costs 1),
            `"flops"` (each weight costs its multiply-adds per example, i.e.
            the layer's output spatial size), or a callable `layer -> float`.
            With channel granularity a channel costs the weights it takes
            from its group and from the input slices of the layers that
            read it (which `keras_ltp.shrink` removes with it), each at
            its layer's cost (a callable is called for those readers too):
            `cost="flops"` then steers toward the multiply-adds, so the
            latency, of the shrunk model.
        granularity: `"weight"` (unstructured) or `"channel"`: prune whole
            output channels where they can later be removed by
            `keras_ltp.shrink` (smaller and faster layers). A producer
            (Dense, Conv, ConvTranspose, SeparableConv) is wrapped with the
            batch norms and depthwise convolutions that follow it, so one
            mask zeroes a channel through all of them; a
            MultiHeadAttention is pruned by head; groups whose channels
            meet in an `Add` share one mask with `couple=True`
            (`keras_ltp.CoupledChannels`), and keep their width otherwise;
            a layer whose channels reach a model output, a reshape, or any
            layer that cannot drop an input channel keeps its width and is
            pruned per weight
            (`keras_ltp.channel_groups` has the rules;
            `pruned.ltp_channel_report` says which, which are coupled, and
            why).
        fallback: with `granularity="channel"`, what happens to a layer
            whose channels cannot be removed: `"weight"` prunes it per
            weight (smaller, not faster), `"dense"` leaves it unpruned (the
            choice when only speed matters). One warning names these layers
            (those that make a model output are expected and not named).
        couple: with `granularity="channel"`, let the groups whose
            channels meet in an `Add` (or another merge: a ResNet's stem,
            the last convolution of each block and its shortcuts) share one
            mask and lose channels together, so a residual stream gets
            narrower too. Off by default: measured on the latency benchmark
            it made the small ResNet faster at no accuracy loss but cost
            MobileNetV2 accuracy (README, "Faster models").
        in_place: wrap the model's own layers instead of copies: the pruned
            model then shares its weights with the given one (training it
            changes both). For layers that cannot be copied by any route
            (`keras_ltp.copying.copy_layer`: their config does not round-trip, and the model
            does not rebuild from its own serialization either). By default
            the given model is left untouched.
        **options: `PrunableWrapper` arguments applied to every pruned layer
            (`l0_strength`, `temperature`, `initial_threshold`).

    Returns:
        A new model (or a `PrunableWrapper` when given a layer), ready to
        compile.

    Example:
    >>> import keras, keras_ltp
    >>> dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4),
    ...                           keras.layers.Dense(2, name="last")])
    >>> pruned = keras_ltp.prune(dense, lambda l: None if l.name == "last"
    ...                          else {}, l0_strength=0.5)
    >>> [type(l).__name__ for l in pruned.layers]
    ['PrunableWrapper', 'Dense']
    """
    _validate(model_or_layer, layer_options, cost)
    leaves = list(leaf_layers(model_or_layer)) if isinstance(model_or_layer, keras.Model) else [model_or_layer]
    selection = Selection(include, exclude, leaves)
    bounds = SparsityBounds(sparsity_bounds, leaves)
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}.")
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}.")
    if fallback != "weight" and granularity != "channel":
        raise ValueError(f"fallback={fallback!r} applies to granularity='channel' only; remove it or set granularity.")
    if couple not in (True, False):
        raise TypeError(f"couple must be True or False, got {couple!r}.")
    if couple and granularity != "channel":
        raise ValueError("couple=True applies to granularity='channel' only; remove it or set granularity.")
    if in_place not in (True, False):
        raise TypeError(f"in_place must be True or False, got {in_place!r}.")
    copy_layer = LayerCopier(model_or_layer, in_place)
    if not isinstance(model_or_layer, keras.Model):
        return _prune_layer(
            model_or_layer, layer_options, dict(options, granularity=granularity), selection, bounds, copy_layer
        )
    plans, groups, reasons, coupled, skipped, follows = _plan(
        model_or_layer, layer_options, cost, options, granularity, fallback, selection, couple, bounds
    )
    absorbed = {id(f) for followers in groups.values() for f in followers}
    member_of = {id(m): (leader, i) for leader, members in coupled.items() for i, m in enumerate(members)}
    shared, wrappers = {}, {}

    def group(layer):
        followers = groups.get(id(layer))
        if not followers:
            return copy_layer(layer)
        return keras.Sequential([copy_layer(layer)] + [copy_layer(f) for f in followers], name=f"{layer.name}_channels")

    def replace(layer):
        if id(layer) in absorbed:
            return Chain([])  # now inside its producer's wrapper
        if id(layer) in member_of:
            leader, index = member_of[id(layer)]
            if leader not in shared:
                members = coupled[leader]
                inner = CoupledChannels([_built(group(m), m) for m in members], name=f"{members[0].name}_coupled")
                shared[leader] = PrunableWrapper(inner, name=_coupled_name(members), **plans[leader])
            return functools.partial(shared[leader], member=index)
        chosen = plans.get(id(layer))
        if chosen is None:
            return copy_layer(layer)
        if groups.get(id(layer)):
            return PrunableWrapper(group(layer), name=f"ltp_{layer.name}", **chosen)
        if id(layer) not in wrappers:  # an owner is made early, for the first layer that follows it
            wrappers[id(layer)] = wrapper = PrunableWrapper(copy_layer(layer), **chosen)
            for owner in follows.get(id(layer), ()):
                wrapper.follow(replace(owner))
        return wrappers[id(layer)]

    pruned = clone_graph(model_or_layer, replace)
    pruned.ltp_skipped = skipped
    _record_source(pruned, model_or_layer, copy_layer.copies)
    if granularity == "channel":
        prefix = "ltp_" if fallback == "weight" else ""
        fallen = {
            f"{prefix}{layer.name}": reasons[id(layer)] for layer in leaf_layers(model_or_layer) if id(layer) in reasons
        }
        alone = {key: followers for key, followers in groups.items() if key not in member_of}
        pruned.ltp_channel_report = {
            "channel": sorted(
                [f"ltp_{name}" for name in _names(model_or_layer, alone)]
                + [_coupled_name(members) for members in coupled.values()]
            ),
            "coupled": {_coupled_name(members): [m.name for m in members] for members in coupled.values()},
            fallback: fallen,
        }
        surprising = {name: why for name, why in fallen.items() if why != REACHES_OUTPUT}
        if surprising:
            warnings.warn(_fallback_message(surprising, fallback), UserWarning, stacklevel=2)
    return pruned


def _record_source(pruned, model, copies):
    """Keeps on `pruned` what `strip()` needs to give back a model of
    `model`'s class, where that class has a config of its own (a KerasHub
    backbone): the model's serialization, and the pruned model's copy of
    each of its leaf layers. Kept in memory only."""
    if not overrides_get_config(model):
        return
    try:
        config = keras.saving.serialize_keras_object(model)
    except Exception:  # noqa: BLE001 - strip() then rebuilds the graph layer by layer
        return
    pruned.ltp_source = {
        "config": config,
        "layers": [copies.get(id(layer)) for layer in leaf_layers(model)],
        # A KerasHub task's preprocessor keeps its vocabulary in asset files,
        # not in its config: strip() hands the same preprocessor on.
        "preprocessor": getattr(model, "preprocessor", None),
    }


def _merge_bounds(into, other, layer):
    """Narrows the sparsity bounds of the plan `into` (a group's) to those of
    `other` (the plan of `layer`, which joins the group's mask)."""
    if into is None or other is None:
        return
    lo = max(into.get("min_sparsity", 0.0), other.get("min_sparsity", 0.0))
    hi = min(into.get("max_sparsity", 1.0), other.get("max_sparsity", 1.0))
    if lo > hi:
        raise ValueError(
            f"Layer {layer.name!r} shares its channel mask with others whose sparsity bounds do not overlap its "
            f"own (together: min {lo:g} > max {hi:g}); give the layers of one channel group overlapping bounds."
        )
    if lo > 0.0:
        into["min_sparsity"] = lo
    if hi < 1.0:
        into["max_sparsity"] = hi


def _coupled_name(members):
    """The name of the wrapper of coupled groups: after the first producer."""
    return f"ltp_{members[0].name}_coupled"


def _built(copy, original):
    """`copy` (of `original`, or a Sequential group starting with it), built for `original`'s input."""
    if not copy.built:
        copy.build(tuple(original.input.shape))
    return copy


def _names(model, ids):
    return [layer.name for layer in leaf_layers(model) if id(layer) in ids]


def _validate(model_or_layer, layer_options, cost):
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
    if not (callable(cost) or cost in COSTS):
        raise ValueError(f"cost must be one of {COSTS} or a callable, got {cost!r}.")
    if isinstance(model_or_layer, PrunableWrapper):
        raise ValueError(f"{model_or_layer.name!r} is already a PrunableWrapper; prune() takes the original layer.")
    for wrapper in iter_wrappers(model_or_layer):
        raise ValueError(
            f"{model_or_layer.name!r} already contains the PrunableWrapper {wrapper.name!r}. "
            "prune() takes an unpruned model; to keep training a pruned one, "
            "compile and fit it, or call keras_ltp.strip() first to start over."
        )
    _warn_if_outside_strategy(model_or_layer)
    if isinstance(model_or_layer, keras.Model) and not is_graph_model(model_or_layer):
        raise TypeError(_SUBCLASSED_MESSAGE.format(name=model_or_layer.name))


def _resolve_options(layer, options, layer_options, bounds=None):
    """The wrapper options for `layer`: `options` updated by its
    `sparsity_bounds` and then by `layer_options(layer)`, or None where that
    returns None (keep dense)."""
    chosen = dict(options)
    chosen.update((bounds.for_layer(layer) if bounds is not None else None) or {})
    if layer_options is None:
        return chosen
    extra = layer_options(layer)
    if extra is None:
        return None
    if not isinstance(extra, dict):
        raise TypeError(f"layer_options({layer.name!r}) must return a dict or None, got {type(extra).__name__}.")
    chosen.update(extra)
    return chosen


def _prune_layer(layer, layer_options, options, selection, bounds, copy_layer):
    reason = selection.reason(layer)
    if reason is not None:
        raise ValueError(f"{layer.name!r}, the only layer given to prune(), is {reason}: there is nothing to prune.")
    chosen = _resolve_options(layer, options, layer_options, bounds)
    if chosen is None:
        raise ValueError(
            f"layer_options returned None for {layer.name!r}, the only layer "
            "given to prune(): there is nothing left to prune."
        )
    return PrunableWrapper(copy_layer(layer), **chosen)


def _graph_models(model):
    yield model
    for layer in model.layers:
        if isinstance(layer, keras.Model) and is_graph_model(layer):
            yield from _graph_models(layer)


def _plan(
    model, layer_options, cost, options, granularity, fallback="weight", selection=None, couple=False, bounds=None
):
    """`(plans, groups, reasons)`: `plans` is `{id(layer): wrapper options}`
    for every layer to wrap, with the regularizer's `l0_weight` (the layer's
    cost unless given), a channel group's `channel_cost` (the costs of the
    weights one channel takes from the group and from its readers' input
    slices) and `own_channel_cost` (the same without the readers that are
    wrapped themselves, so that each weight is counted once), and the
    common `l0_normalizer` (the whole model's weighted count, each weight
    once) filled in; with channel granularity `groups` is
    `{id(producer): followers}` and `reasons` `{id(layer): why it is pruned
    per weight}`, `coupled` `{id(first producer): producers}` for groups
    that share a mask (all empty otherwise); a coupled set is planned under
    its first producer's id, with that producer's options; `skipped` is
    `{layer name: why it is left dense}` for the layers `selection` or
    `layer_options` leave out."""
    plans, groups, reasons, readers, coupled, skipped = {}, {}, {}, {}, {}, {}
    for layer in leaf_layers(model):
        if id(layer) in plans or not layer.built or not prunable_weights(layer):
            continue
        why = selection.reason(layer) if selection is not None else None
        if why is not None:
            skipped[layer.name] = why
            continue
        chosen = _resolve_options(layer, options, layer_options, bounds)
        if chosen is None:
            skipped[layer.name] = "layer_options returned None"
            continue
        chosen.setdefault("granularity", granularity)
        plans[id(layer)] = chosen
    if granularity == "channel":
        for graph_model in _graph_models(model):
            candidates = {
                id(layer) for layer in graph_model.layers if plans.get(id(layer), {}).get("granularity") == "channel"
            }
            found, why, read, joined = plan_channel_groups(graph_model, candidates, couple)
            if graph_model is not model:  # a nested model's outputs are not the user's outputs
                nested = f"its channels reach an output of the nested model {graph_model.name!r}"
                why = {key: nested if reason == REACHES_OUTPUT else reason for key, reason in why.items()}
            groups.update(found)
            reasons.update(why)
            readers.update(read)
            coupled.update(joined)
        for producer_id, followers in groups.items():
            for follower in followers:
                _merge_bounds(plans.get(producer_id), plans.pop(id(follower), None), follower)
                reasons.pop(id(follower), None)
        for members in coupled.values():
            for member in members[1:]:
                _merge_bounds(plans[id(members[0])], plans.pop(id(member)), member)
        for layer_id in reasons:
            if fallback == "dense":
                plans.pop(layer_id)
            else:
                plans[layer_id]["granularity"] = "weight"
    by_id = {id(layer): layer for layer in leaf_layers(model)}
    follows, followed = _shared_weight_owners(model, plans)
    for layer_id, chosen in plans.items():
        chosen.setdefault("l0_weight", _layer_cost(by_id[layer_id], cost))

    def slice_cost(layer, weights):
        """The cost of `weights` weights of `layer` (no call for a layer without prunable weights)."""
        if not weights:
            return 0.0
        return weights * (plans[id(layer)]["l0_weight"] if id(layer) in plans else _layer_cost(layer, cost))

    wrapped = set(plans) | {id(m) for members in coupled.values() for m in members}
    total = 0.0
    for layer_id, chosen in plans.items():
        layer = by_id[layer_id]
        if layer_id in groups:
            width = None
            own = 0.0
            # Per channel: its output-kernel slice in every producer that
            # writes it (a SeparableConv's depthwise kernel does not shrink
            # with its outputs), their followers' slices, and the input
            # slices of the layers reading it.
            for producer in coupled.get(layer_id, [layer]):
                width = channel_width(producer)
                if is_attention(producer):
                    own += slice_cost(producer, prunable_count(producer) / width)
                    continue
                own += slice_cost(producer, weights_per_channel(producer))
                own += sum(slice_cost(f, prunable_count(f) / width) for f in groups[id(producer)])
            # A Bidirectional's unit is two of its readers' input channels
            # (planning never couples one, so a coupled set's tiles are 1).
            tiles = output_tiles(layer)
            read = [(r, tiles * slice_cost(r, _input_slice(r, channels_in))) for r, channels_in in readers[layer_id]]
            chosen.setdefault("channel_cost", own + sum(c for _, c in read))
            # What no other wrapper counts: the readers that are not pruned.
            chosen.setdefault("own_channel_cost", own + sum(c for r, c in read if id(r) not in wrapped))
            total += chosen["own_channel_cost"] * width
        else:
            chosen.pop("channel_cost", None)  # a layer that fell back to weight granularity
            total += chosen["l0_weight"] * (prunable_count(layer) - followed.get(layer_id, 0))
    _add_channel_inputs(plans, groups, readers, coupled, by_id, slice_cost)
    if not plans:
        if reasons:
            raise ValueError(
                f"Model {model.name!r} has no layer whose channels can be removed, and fallback='dense' "
                f"leaves the others unpruned: {_reason_list(reasons, by_id)}. Nothing to prune; use "
                "fallback='weight' or granularity='weight'."
            )
        raise ValueError(
            f"Model {model.name!r} has no layer with prunable weights "
            "(or include, exclude and layer_options left none of them). Nothing to prune."
        )
    for chosen in plans.values():
        chosen.setdefault("l0_normalizer", total)
    return plans, groups, reasons, coupled, skipped, follows


def _shared_weight_owners(model, plans):
    """`(follows, followed)` for the prunable variables that several leaf
    layers of `model` hold (a composite layer that holds a layer used
    elsewhere): each is pruned by one of them, its owner, and the others
    mask it with the owner's threshold (`PrunableWrapper.follow`). The owner
    is the holder with the fewest prunable weights; on a tie, one that
    another holds (the shared layer itself), then the first. `follows` is
    `{id(layer): [owners]}`, `followed` `{id(layer): weights it follows}`.
    Raises where a layer that holds such a variable is left dense while
    another prunes it, or prunes channels."""
    leaves = list({id(layer): layer for layer in leaf_layers(model) if layer.built}.values())  # a layer once
    holders = {}
    for layer in leaves:
        for variable in prunable_weights(layer):
            holders.setdefault(id(variable), (variable, []))[1].append(layer)
    follows, followed = {}, {}
    for variable, holding in holders.values():
        if len(holding) < 2 or not any(id(layer) in plans for layer in holding):
            continue
        held = {id(sub) for layer in holding for sub in iter_layers(layer) if sub is not layer}
        holding.sort(key=lambda layer: (prunable_count(layer), id(layer) not in held, leaves.index(layer)))
        names = ", ".join(repr(layer.name) for layer in holding)
        dense = [layer.name for layer in holding if id(layer) not in plans]
        if dense:
            raise ValueError(
                f"Layers {names} share the weight {variable.path!r}, and {', '.join(map(repr, dense))} would leave "
                "it dense while the others prune it. Prune all of them or none (include, exclude, layer_options)."
            )
        if any(plans[id(layer)].get("granularity") == "channel" for layer in holding):
            raise ValueError(
                f"Layers {names} share the weight {variable.path!r}; its channels cannot be removed from one "
                "layer's view only. Prune them per weight (granularity='weight' for them, through layer_options) "
                "or exclude them."
            )
        owner = holding[0]
        for layer in holding[1:]:
            owners = follows.setdefault(id(layer), [])
            if owner not in owners:
                owners.append(owner)
            followed[id(layer)] = followed.get(id(layer), 0) + math.prod(variable.shape)
    return follows, followed


def _add_channel_inputs(plans, groups, readers, coupled, by_id, slice_cost):
    """Fills in each channel wrapper's `channel_inputs`: per member, the cost
    of its output channel's kernel slice, its input width, and the channel
    wrappers that write those inputs (`keras_ltp.cost_measure`)."""
    channel = [i for i in plans if i in groups]
    name = {i: _coupled_name(coupled[i]) if i in coupled else f"ltp_{by_id[i].name}" for i in channel}
    wrapper_of = {id(m): i for i in channel for m in coupled.get(i, [by_id[i]])}
    entries = {}
    for source in channel:
        for reader, width in readers[source]:
            if id(reader) not in wrapper_of:
                continue  # unwrapped or per weight: its slices are counted by the source
            kernel_weights = sum(math.prod(kernel.shape) for kernel in input_kernels(reader))
            entry = entries.setdefault(
                id(reader),
                {"kernel_cost": slice_cost(reader, kernel_weights / channel_width(reader)), "width": int(width)},
            )
            # A source whose channel is several input channels (a
            # Bidirectional's unit) is listed once per block of them.
            entry.setdefault("sources", []).extend([name[source]] * output_tiles(by_id[source]))
    for i in channel:
        members = coupled.get(i, [by_id[i]])
        if any(id(m) in entries for m in members):
            plans[i].setdefault(
                "channel_inputs",
                [entries.get(id(m), {"kernel_cost": 0.0, "width": 1, "sources": []}) for m in members],
            )


def _input_slice(reader, width):
    """How many prunable weights of `reader` one of its `width` input
    channels holds (a recurrent layer's recurrent kernel reads its own
    units, not its inputs)."""
    count = prunable_count(reader) - sum(math.prod(kernel.shape) for kernel in recurrent_kernels(reader))
    return count / width


def _reason_list(reasons, by_id):
    return "; ".join(f"{by_id[i].name!r}: {why}" for i, why in reasons.items())


def _fallback_message(fallen, fallback):
    what = "pruned per weight (smaller, not faster)" if fallback == "weight" else "left unpruned (fallback='dense')"
    names = ", ".join(sorted(fallen))
    advice = (
        "pass fallback='dense' to leave them unpruned"
        if fallback == "weight"
        else "pass fallback='weight' to prune them per weight"
    )
    return (
        f"prune(granularity='channel'): {len(fallen)} layer(s) cannot lose whole channels and are {what}: "
        f"{names}. The model's ltp_channel_report says why for each; {advice}."
    )


def _layer_cost(layer, cost):
    if callable(cost):
        value = cost(layer)
    elif cost == "flops":
        value = _flops_per_weight(layer)
    else:
        value = 1.0
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"cost for layer {layer.name!r} must be a finite number > 0, got {value!r}.")
    return float(value)


def _flops_per_weight(layer):
    """Multiply-adds one weight costs per example: the output's spatial size
    (a recurrent layer: its input's time steps, one use per step)."""
    try:
        shape = layer.input.shape[:2] + (None,) if has_units(layer) else layer.output.shape
    except (AttributeError, ValueError):
        return 1.0
    shape = tuple(d for d in shape[1:-1] if d is not None)
    return float(math.prod(shape)) if shape else 1.0


def _warn_if_outside_strategy(model_or_layer):
    """prune() copies: a copy made outside the strategy's scope of a model
    whose variables are distributed silently trains on one device."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return
    for variable in model_or_layer.weights:
        if isinstance(getattr(variable, "value", None), tf.distribute.DistributedValues):
            warnings.warn(
                f"{model_or_layer.name!r} was built under a tf.distribute strategy, "
                "but prune() runs outside its scope: the pruned copy's variables "
                "are created on one device and it will train on one device. Call "
                "prune() (and compile()) inside `with strategy.scope():`.",
                UserWarning,
                stacklevel=4,
            )
            return


_SUBCLASSED_MESSAGE = (
    "prune() cannot rebuild the subclassed model {name!r} from outside. Wrap its "
    "layers where they are created, e.g. in __init__: "
    "`self.fc = keras_ltp.prune(keras.layers.Dense(10))` (or "
    "keras_ltp.PrunableWrapper(layer)); callbacks and keras_ltp.sparsity() find "
    "those wrappers anywhere in the model."
)
