"""`shrink()`: a smaller plain Keras model with its zero channels removed.

How it decides (one mechanism for every graph, Torch-Pruning's dependency
groups on Keras graphs):

1. Strip the model (hard masks baked in), then follow each tensor's channels
   through the graph, marking the channels that are exactly zero for every
   input: a producer's channel whose kernel slice and bias are zero (and
   whose activation maps 0 to 0), through batch norm, depthwise convolution,
   activations, pooling and `Add`.
2. Tensors joined by channel-wise layers (batch norm, depthwise, pooling,
   activations, `Add`, `Multiply`) share their channel numbering: they form
   one *space*, and a channel is removed from all of them or from none.
   Channels coupled through an `Add` are therefore removed together.
3. A channel `Concatenate` starts a space of its own, its inputs' channels
   side by side: a channel goes from both sides or from neither. Likewise a
   `Bidirectional` that concatenates its directions writes unit `c` to
   channels `c` and `units + c`: both go, or neither.
4. A space whose channels also reach something that cannot drop a channel
   (a model input or output, a reshape, a nested model, an unknown layer)
   is kept whole; the report says why.
5. Every layer is rebuilt with its sliced weights: producers lose output
   channels, their readers the matching input slices (Flatten then Dense:
   the matching rows), batch norms and depthwise convolutions the channel.

Removing a channel that is zero for every input changes no output, so the
shrunk model computes what the stripped model computes (up to float
summation order).
"""

import math
import warnings

import keras
import numpy as np

from keras_ltp import channels
from keras_ltp.channel_groups import MERGES, can_drop_inputs, channels_last, is_channel_concat, is_pass_through
from keras_ltp.copying import clone_graph, copy_layer
from keras_ltp.graph import Graph, GraphReadError
from keras_ltp.stripping import strip
from keras_ltp.walk import is_graph_model
from keras_ltp.wrapper import iter_wrappers

__all__ = ["ShrinkReport", "shrink"]


class ShrinkReport:
    """What `shrink()` removed and what it kept whole.

    Attributes:
        spaces: list of dicts, one per set of tensors sharing channels:
            `layers` (the layers that make them), `channels`, `removed`,
            and `kept_whole` (the reason, or None).
    """

    def __init__(self, spaces):
        self.spaces = spaces

    @property
    def removed(self):
        return sum(s["removed"] for s in self.spaces)

    def __str__(self):
        lines = [f"{'channels of':40s} {'before':>6s} {'after':>6s}  note"]
        for s in self.spaces:
            lines.append(
                f"{', '.join(s['layers'])[:40]:40s} {s['channels']:6d} {s['channels'] - s['removed']:6d}  "
                f"{('kept whole: ' + s['kept_whole']) if s['kept_whole'] else ''}"
            )
        return "\n".join(lines)


def shrink(model, return_report=False):
    """Returns a plain Keras model with the channels that are zero removed.

    Use it on a model pruned with `keras_ltp.prune(..., granularity="channel")`
    (or any Sequential/Functional model whose channels are exactly zero): the
    result has the same layer classes with fewer units/filters, so it is
    smaller and faster everywhere (TFLite, SavedModel, any Keras backend),
    and its output equals the pruned model's inference output. Nested graph
    models are shrunk inside (their own inputs and outputs keep their width).

    Args:
        model: a Sequential or Functional model, pruned or plain.
        return_report: also return a `ShrinkReport`.

    Returns:
        The new model, or `(model, report)`. Where no channel can be
        removed from a pruned model, `strip(model)` (a KerasHub backbone
        pruned in this process comes back as its own class).

    Example:
    >>> import keras, numpy as np, keras_ltp
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(2)])
    >>> model.layers[0].set_weights([np.array([[1.0, 0.0, 2.0]] * 4), np.zeros(3)])
    >>> [layer.units for layer in keras_ltp.shrink(model).layers]
    [2, 2]
    """
    if not (isinstance(model, keras.Model) and is_graph_model(model)):
        raise TypeError(
            f"shrink() expects a Sequential or Functional model, got {type(model).__name__}. "
            "Subclassed models cannot be rebuilt from outside."
        )
    wrappers = list(iter_wrappers(model))
    plain = strip(model) if wrappers else model
    spaces = []
    # The layers of a model stripped here belong to no one else: the ones
    # that keep their width are used as they are, not copied again.
    try:
        shrunk = _shrink_graph(plain, spaces, reuse=bool(wrappers))
    except GraphReadError as error:
        if not wrappers or any(w.granularity == "channel" for w in wrappers):
            raise
        # Pruned per weight only: no layer prunes a channel, so there is nothing to remove.
        warnings.warn(f"{_nothing_removed_message(model, wrappers)} ({error})", UserWarning, stacklevel=2)
        return (plain, ShrinkReport([])) if return_report else plain
    report = ShrinkReport(spaces)
    if report.removed == 0:
        warnings.warn(_nothing_removed_message(model, wrappers), UserWarning, stacklevel=2)
        if wrappers:
            shrunk = plain  # strip()'s model: of the original class where strip() gives that back
    return (shrunk, report) if return_report else shrunk


def _nothing_removed_message(model, wrappers):
    if wrappers and all(w.granularity == "weight" for w in wrappers):
        return (
            f"shrink({model.name!r}) removed nothing: it removes whole channels only, and this model is "
            "pruned per weight (granularity='weight'), so its zeros stay where they are; the result is a "
            "stripped copy. Prune with keras_ltp.prune(..., granularity='channel') to make layers narrower."
        )
    return (
        f"shrink({model.name!r}) removed nothing: no channel is zero for every input (or every zero one is in "
        "a set kept whole; return_report=True says why); the result computes what the model computes."
    )


def _weights(layer):
    """`{variable name: numpy value}` of a layer's weights."""
    return {v.name.split("/")[-1]: np.asarray(keras.ops.convert_to_numpy(v.value)) for v in layer.weights}


def _zero_slices(kernel, axis, tiles=1):
    """Channels (along `axis`, which holds `tiles` blocks of them one after
    the other) whose every weight is zero."""
    return np.all(np.moveaxis(kernel, axis, -1).reshape(-1, kernel.shape[axis] // tiles) == 0, axis=0)


def _producer_zero(layer):
    """Output channels of a producer that are zero for every input."""
    if channels.has_units(layer):
        # A unit with no input, recurrent or bias column in any gate stays at
        # the zero state it starts from (the layer has no initial_state input);
        # a Bidirectional's unit must be so in both directions.
        zero = True
        for direction in channels.recurrent_directions(layer):
            w, gates = _weights(direction), channels.gate_blocks(direction)
            zero = zero & _zero_slices(w["kernel"], -1, gates) & _zero_slices(w["recurrent_kernel"], -1, gates)
            if "bias" in w:
                zero &= _zero_slices(w["bias"], -1, gates)
        if channels.unsupported_reason(layer) is not None:
            zero = np.zeros_like(zero)
        return np.tile(zero, channels.output_tiles(layer))
    w = _weights(layer)
    variable, axis = channels.output_kernel(layer)
    zero = _zero_slices(w[variable.name.split("/")[-1]], axis)
    if "bias" in w:
        zero &= w["bias"] == 0
    return zero if channels.keeps_zero(getattr(layer, "activation", None)) else np.zeros_like(zero)


def _channel_wise_zero(layer, zero_in):
    """Output zero channels of a channel-wise layer with parameters."""
    w = {name: value.astype("float32") for name, value in _weights(layer).items()}
    if isinstance(layer, keras.layers.BatchNormalization):
        gamma = w.get("gamma", np.ones_like(w["moving_mean"]))
        beta = w.get("beta", np.zeros_like(w["moving_mean"]))
        at_zero = beta - gamma * w["moving_mean"] / np.sqrt(w["moving_variance"] + layer.epsilon)
        return ((gamma == 0) & (beta == 0)) | (zero_in & (at_zero == 0))
    zero = _zero_slices(w["kernel"], -2) | zero_in  # depthwise kernel, (..., C, 1)
    if "bias" in w:
        zero &= w["bias"] == 0
    return zero if channels.keeps_zero(layer.activation) else np.zeros_like(zero)


def _is_member(layer, graph, node):
    """Layers whose output shares its input's channel numbering."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, len(graph.shape(node.output)) - 1)
    if isinstance(layer, channels.DEPTHWISE):
        return layer.depth_multiplier == 1 and getattr(layer, "data_format", "channels_last") == "channels_last"
    if isinstance(layer, MERGES):
        return len({graph.shape(k)[-1] for k in node.inputs}) == 1
    return is_pass_through(layer) and len(node.inputs) == 1


def _width(graph, key):
    """The last axis of tensor `key`, or None where Keras does not know it."""
    shape = graph.shape(key)
    return shape[-1] if shape else None


class _Spaces:
    """Union-find over tensor keys."""

    def __init__(self):
        self.parent = {}

    def find(self, key):
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _shrink_graph(model, report, reuse=False):
    graph = Graph(model)
    zero, spaces, blocked, concats, tiled = {}, _Spaces(), {}, [], []

    def block(key, reason):
        blocked.setdefault(spaces.find(key), reason)

    for key in graph.inputs:
        spaces.find(key)
        block(key, "it is a model input")
    others = {}  # a node's outputs after its first (attention scores, states, a Bidirectional's two directions)
    for key, node in graph.producer.items():
        if key != node.output:
            others.setdefault(id(node), []).append(key)
    for node in graph.nodes:
        layer, out = node.layer, node.output
        spaces.find(out)
        for key in others.get(id(node), []):
            block(key, f"it is an output of {layer.name!r} after its first, which shrink() does not follow")
        zin = [zero.get(k) for k in node.inputs]
        if _width(graph, out) is None or any(_width(graph, k) is None for k in node.inputs):
            block(out, f"the channel count of {layer.name!r}'s input or output is not known")
            for k in node.inputs:
                block(k, f"the channel count of {layer.name!r}'s input or output is not known")
            continue
        if graph.calls[id(layer)] > 1:
            block(out, f"{layer.name!r} is called more than once")
            for k in node.inputs:
                block(k, f"{layer.name!r} is called more than once")
            continue
        if isinstance(layer, keras.Model) or len(node.inputs) == 0:
            block(out, f"it comes from {layer.name!r}, which shrink() cannot slice from outside")
            for k in node.inputs:
                block(k, f"it goes into {layer.name!r}, which shrink() cannot slice from outside")
            continue
        if channels.is_producer(layer) and len(node.inputs) == 1 and channels_last(layer):
            zero[out] = _producer_zero(layer)
            if channels.output_tiles(layer) > 1:
                tiled.append((out, channels.output_tiles(layer)))
            if not can_drop_inputs(layer):
                block(node.inputs[0], f"it goes into {layer.name!r}, which cannot drop an input channel")
            continue
        if isinstance(layer, keras.layers.Flatten) and len(node.inputs) == 1:
            readers = graph.consumers.get(out, [])
            if (
                not readers
                or graph.is_output(out)
                or not all(isinstance(n.layer, keras.layers.Dense) and len(n.inputs) == 1 for n in readers)
            ):
                block(node.inputs[0], f"it goes into {layer.name!r} (Flatten), whose output does not go only to Dense")
            block(out, f"it is the output of {layer.name!r} (Flatten)")
            continue
        if is_channel_concat(graph, node):
            # Its output is a space of its own whose channels are its inputs'
            # side by side; the two sides are reconciled below.
            concats.append(node)
            zero[out] = np.concatenate(
                [z if z is not None else np.zeros(graph.shape(k)[-1], bool) for z, k in zip(zin, node.inputs)]
            )
            continue
        if _is_member(layer, graph, node):
            for k in node.inputs:
                spaces.union(k, out)
            known = all(z is not None for z in zin)
            if isinstance(layer, (keras.layers.BatchNormalization,) + channels.DEPTHWISE):
                zero[out] = _channel_wise_zero(layer, zin[0] if known else np.zeros(graph.shape(out)[-1], bool))
            elif known and isinstance(layer, keras.layers.Multiply):
                zero[out] = np.logical_or.reduce(zin)
            elif known:
                zero[out] = np.logical_and.reduce(zin)
            continue
        block(out, f"it is the output of {layer.name!r} ({type(layer).__name__})")
        for k in node.inputs:
            block(k, f"it goes into {layer.name!r} ({type(layer).__name__}), which cannot drop a channel")
    for key in graph.outputs:
        block(key, "it is a model output")

    # One keep-list per space: the channels nonzero in any of its tensors.
    members = {}
    for key in list(spaces.parent):
        members.setdefault(spaces.find(key), []).append(key)
    removable, reasons = {}, {}
    for root, keys in list(members.items()):
        width = next((w for w in map(lambda k: _width(graph, k), keys) if w is not None), None)
        if width is None:  # not a channel axis Keras knows (token ids of free length, ...)
            del members[root]
            continue
        reason = blocked.get(root)
        if reason is None and any(zero.get(k) is None for k in keys):
            reason = "a layer in it does not show which channels are zero"
        reasons[root] = reason
        removable[root] = np.ones(width, bool) if reason is None else np.zeros(width, bool)
        for k in keys:
            if reason is None:
                removable[root] &= zero[k]
    _reconcile(concats, tiled, spaces, removable)
    for root in removable:
        if removable[root].size and removable[root].all():  # keep one channel: layers need a width of at least 1
            removable[root][0] = False
    _reconcile(concats, tiled, spaces, removable)
    keep = {}
    for root, keys in members.items():
        reason = reasons[root]
        width = removable[root].size
        kept = np.flatnonzero(~removable[root])
        for k in keys:
            keep[k] = kept
        makers = [graph.producer[k].layer.name for k in keys if k in graph.producer]
        # No report row for a tensor of no channel (an empty cache) or of Flatten outputs only.
        if (
            width
            and (makers or reason is None)
            and not all(isinstance(graph.producer[k].layer, keras.layers.Flatten) for k in keys if k in graph.producer)
        ):
            report.append(
                {
                    "layers": makers or ["(model input)"],
                    "channels": int(width),
                    "removed": int(width - kept.size),
                    "kept_whole": reason if width - kept.size == 0 and reason else None,
                }
            )

    rebuilt = {}
    for node in graph.nodes:
        layer = node.layer
        if isinstance(layer, keras.Model):
            continue
        if channels.is_attention(layer):
            sliced = _sliced_heads(layer, report)
            if sliced is not None:
                rebuilt[id(layer)] = sliced
            continue
        in_keep = keep.get(node.inputs[0]) if node.inputs else None
        in_width = _width(graph, node.inputs[0]) if node.inputs else None
        out_keep = keep.get(node.output)
        out_width = _width(graph, node.output)
        if isinstance(layer, keras.layers.Dense) and node.inputs and node.inputs[0] in graph.producer:
            before = graph.producer[node.inputs[0]]
            if isinstance(before.layer, keras.layers.Flatten):
                in_keep, in_width = _flat_indices(graph.shape(before.inputs[0]), keep[before.inputs[0]]), None
        sliced = _sliced(layer, in_keep, in_width, out_keep, out_width)
        if sliced is not None:
            rebuilt[id(layer)] = sliced

    pending = []

    def replace(layer):
        if id(layer) not in rebuilt:
            return layer if reuse else copy_layer(layer)
        config, values = rebuilt[id(layer)]
        new = layer.__class__.from_config(config)
        pending.append((new, values))
        return new

    shrunk = clone_graph(model, replace, nested=lambda inner: _shrink_graph(inner, report, reuse))
    for new, values in pending:
        new.set_weights(values)
    return shrunk


def _sliced_heads(layer, report):
    """`(config, weights)` of an attention layer without its zero heads
    (those whose output-kernel slice, or value kernel and bias slices, are
    all zero: they add nothing to the output), or None if none is zero."""
    layout = channels.channel_layout(layer)
    if layout is None:
        return None
    axes = {id(v): axis for v, axis, _ in layout.masked}
    value_parts = [layer.value_dense.kernel] + [b for b in [getattr(layer.value_dense, "bias", None)] if b is not None]

    def zero(variable):
        return _zero_slices(np.asarray(keras.ops.convert_to_numpy(variable.value)), axes[id(variable)])

    dead = zero(layer.output_dense.kernel) | np.logical_and.reduce([zero(v) for v in value_parts])
    if dead.all():  # keep one head
        dead[0] = False
    report.append(
        {
            "layers": [f"{layer.name} (heads)"],
            "channels": int(dead.size),
            "removed": int(dead.sum()),
            "kept_whole": None,
        }
    )
    if not dead.any():
        return None
    keep = np.flatnonzero(~dead)
    values = []
    for variable in layer.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable.value))
        values.append(np.take(value, keep, axis=axes[id(variable)]) if id(variable) in axes else value)
    config = layer.get_config()
    config["num_heads"] = int(keep.size)
    return config, values


def _reconcile(concats, tiled, spaces, removable):
    """A channel of a concatenation's output goes exactly when the input
    channel it comes from goes: both must be removable in their spaces; a
    tiled output's (`(key, tiles)`: a Bidirectional's) channel goes only
    with its copies in the other blocks. Repeats until nothing changes (a
    space can feed several concatenations, and concatenations can feed one
    another)."""
    changed = True
    while changed:
        changed = False
        for key, tiles in tiled:
            part = removable[spaces.find(key)]
            every = np.tile(part.reshape(tiles, -1).all(axis=0), tiles)
            if not np.array_equal(every, part):
                part &= every
                changed = True
        for node in concats:
            out = removable[spaces.find(node.output)]
            offset = 0
            for key in node.inputs:
                part = removable[spaces.find(key)]
                both = part & out[offset : offset + part.size]
                if not (np.array_equal(both, part) and np.array_equal(both, out[offset : offset + part.size])):
                    part &= both
                    out[offset : offset + part.size] &= both
                    changed = True
                offset += part.size


def _sliced_units(layer, w, rows, units):
    """The weights `w` of a recurrent layer with only the input `rows` and
    the `units` kept, in each gate block."""
    gates = channels.gate_blocks(layer)
    columns = (np.arange(gates)[:, None] * layer.units + units[None, :]).ravel()
    new = {"kernel": w["kernel"][rows][:, columns], "recurrent_kernel": w["recurrent_kernel"][units][:, columns]}
    if "bias" in w:
        new["bias"] = w["bias"][..., columns]
    return new


def _flat_indices(shape, kept_channels):
    """Rows of a Dense kernel after Flatten that belong to the kept channels
    (Flatten orders a channels_last tensor position-major, channel-minor)."""
    channels_count = shape[-1]
    positions = math.prod(shape[1:-1])
    return (np.arange(positions)[:, None] * channels_count + kept_channels[None, :]).ravel()


def _changed(keep, width):
    return keep is not None and width is not None and keep.size != width


def _sliced(layer, in_keep, in_width, out_keep, out_width):
    """`(config, weights)` of the sliced copy of `layer`, or None if unchanged."""
    if in_keep is not None and in_width is None:
        in_changed = True  # Flatten rows, already expanded
    else:
        in_changed = _changed(in_keep, in_width)
    out_changed = _changed(out_keep, out_width)
    if not (in_changed or out_changed) or not layer.weights:
        return None
    config = layer.get_config()
    i = in_keep if in_changed else slice(None)
    o = out_keep if out_changed else slice(None)
    if isinstance(layer, keras.layers.Bidirectional) and channels.has_units(layer):
        return _sliced_bidirectional(layer, config, i, o)
    w = _weights(layer)
    if isinstance(layer, keras.layers.BatchNormalization):
        new = {k: v[o] for k, v in w.items()}
    elif isinstance(layer, channels.DEPTHWISE):
        new = {"kernel": w["kernel"][..., o, :]}
        if "bias" in w:
            new["bias"] = w["bias"][o]
    elif isinstance(layer, channels.SEPARABLE):
        multiplier = w["depthwise_kernel"].shape[-1]
        rows = (
            (np.asarray(in_keep)[:, None] * multiplier + np.arange(multiplier)[None, :]).ravel()
            if in_changed
            else slice(None)
        )
        new = {
            "depthwise_kernel": w["depthwise_kernel"][..., i, :],
            "pointwise_kernel": w["pointwise_kernel"][..., rows, :][..., o],
        }
        if "bias" in w:
            new["bias"] = w["bias"][o]
        config["filters"] = int(new["pointwise_kernel"].shape[-1])
    elif channels.is_recurrent(layer):
        units = np.arange(layer.units)[o]
        config["units"] = int(units.size)
        new = _sliced_units(layer, w, i, units)
    elif isinstance(layer, channels.TRANSPOSED):
        new = {"kernel": w["kernel"][..., o, :][..., i]}
        if "bias" in w:
            new["bias"] = w["bias"][o]
        config["filters"] = int(new["kernel"].shape[-2])
    elif isinstance(layer, channels.PRODUCERS):
        new = {"kernel": w["kernel"][..., i, :][..., o]}
        if "bias" in w:
            new["bias"] = w["bias"][o]
        key = "units" if isinstance(layer, keras.layers.Dense) else "filters"
        config[key] = int(new["kernel"].shape[-1])
    else:
        return None
    return config, [new[v.name.split("/")[-1]] for v in layer.weights]


def _sliced_bidirectional(layer, config, rows, out_keep):
    """`(config, weights)` of a Bidirectional with input `rows` and output
    channels `out_keep` (of both directions' blocks) kept."""
    width = channels.channel_width(layer)
    units = np.arange(width * channels.output_tiles(layer))[out_keep]
    units = units[units < width]  # the forward block's; the backward block keeps the same ones
    for key in ("layer", "backward_layer"):
        config[key]["config"]["units"] = int(units.size)
        config[key].pop("build_config", None)  # the old input width; the new layer builds on its input
    values = []
    for direction in channels.recurrent_directions(layer):
        new = _sliced_units(direction, _weights(direction), rows, units)
        values += [new[v.name.split("/")[-1]] for v in direction.weights]
    return config, values
