"""Which layers of a graph model `prune(..., granularity="channel")` prunes
by channel, and with which followers.

An attention layer is pruned by head: its heads are internal, so it is
always grouped alone. For the other layers:

A producer (Dense, Conv, ...) is channel-pruned when every channel it makes
can later be removed: the channel-wise layers right after it (batch norm,
activations, depthwise convolutions, each the only reader of the one before)
join its group so that one mask zeroes the channel through all of them, and
beyond the group the channel only reaches layers that can drop an input
channel (the next producer, or Flatten then Dense), through weightless
channel-wise layers (activations, pooling, padding, dropout) and merges
(`Add`, `Multiply`, ...). Groups whose channels meet in a merge (a residual
stream: the stem and the last convolution of each block) are *coupled*:
a channel goes only when every one of them drops it, so they share one
mask (`keras_ltp.CoupledChannels`). A channel `Concatenate` places the
channels at an offset of its output, which is followed on its own (to
readers, through weightless channel-wise layers; not into a merge). Anything
else on the way (a model output, a reshape, a nested model, a producer that
is not channel-pruned) keeps the width of every group that writes those
channels: they are pruned per weight, and the reason is kept.
"""

import keras

from keras_ltp import channels
from keras_ltp.graph import Graph, GraphReadError

__all__ = ["is_channel_concat", "plan_channel_groups", "MERGES", "PASS_THROUGH", "REACHES_OUTPUT"]

# The reason of a layer whose channels are a model output: expected (the
# model's outputs keep their width), so prune() does not warn about it.
REACHES_OUTPUT = "its channels reach a model output"

# Weightless layers that keep channel c in place (and zeros zero).
PASS_THROUGH = channels.ELEMENTWISE + (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.UpSampling1D,
    keras.layers.UpSampling2D,
    keras.layers.UpSampling3D,
)


# Weightless layers that combine tensors channel by channel: a channel zero
# in every input is zero in the output.
MERGES = (keras.layers.Add, keras.layers.Multiply, keras.layers.Maximum, keras.layers.Minimum, keras.layers.Average)


def channels_last(layer):
    return getattr(layer, "data_format", "channels_last") in ("channels_last", None)


def is_pass_through(layer):
    if not isinstance(layer, PASS_THROUGH) or not channels_last(layer):
        return False
    return not isinstance(layer, channels.ELEMENTWISE) or channels.is_elementwise(layer)


def can_drop_inputs(layer):
    """A layer whose input channels can be removed by slicing its kernel."""
    return channels.is_producer(layer) and getattr(layer, "groups", 1) == 1 and channels_last(layer)


def plan_channel_groups(model, candidates, couple=False):
    """Plans the channel groups of one graph model (not its nested models).

    Args:
        model: a Sequential or Functional model.
        candidates: ids of the layers `prune()` will wrap.
        couple: follow channels through merges (`Add`, ...), so groups that
            write the same channels are planned together (`coupled`);
            otherwise a merge keeps the width of the groups before it.

    Returns:
        `(groups, reasons, readers, coupled)`: `groups` maps `id(producer)`
        to its list of follower layers (possibly empty); `reasons` maps
        `id(layer)` to why a candidate is pruned per weight instead;
        `readers` maps `id(producer)` to the `(layer, input channels)` that
        read the group's channels and lose their input slices with them (the
        next producers, or the Dense layers after a Flatten, possibly after
        a `Concatenate`, whose width they then read); `coupled` maps the `id` of the
        first of several producers whose channels meet in a merge (`Add`,
        ...) to all of them, in graph order: they share one mask, and
        `readers` lists the readers of the whole stream under that id.
    """
    try:
        graph = Graph(model)
    except GraphReadError as error:  # no graph, no channel groups: every candidate is pruned per weight
        return {}, dict.fromkeys(candidates, str(error)), {}, {}
    groups, reasons, readers, coupled, ends = {}, {}, {}, {}, {}
    for node in graph.nodes:
        layer = node.layer
        if id(layer) not in candidates:
            continue
        reason = _reason(graph, node)
        if reason is not None:
            reasons[id(layer)] = reason
            continue
        if channels.is_attention(layer):  # heads are inside the layer: nothing outside changes
            groups[id(layer)], readers[id(layer)] = [], []
            continue
        groups[id(layer)], end = _followers(graph, node, candidates)
        ends[end] = layer
    planned = set()
    for end, producer in ends.items():
        if id(producer) in planned:
            continue
        reason, members, found = _space(graph, end, ends, couple)
        if reason is None and len(members) > 1 and any(channels.output_tiles(m) > 1 for m in members):
            reason = "its channels meet another layer's in a merge, and a Bidirectional holds each unit twice"
        planned.update(id(m) for m in members)
        if reason is not None:
            for member in members:
                reasons[id(member)] = reason
                groups.pop(id(member), None)
            continue
        readers[id(members[0])] = found
        if len(members) > 1:
            coupled[id(members[0])] = members
    return groups, reasons, readers, coupled


def _reason(graph, node):
    layer = node.layer
    if graph.calls[id(layer)] != 1:
        return "it is called more than once"
    if not channels_last(layer):
        return "it is not channels_last"
    if channels.has_units(layer) and len(node.inputs) != 1:
        return "it is given an initial state, so a pruned unit's state would not stay zero"
    return channels.unsupported_reason(layer)


def _single_reader(graph, key):
    readers = graph.consumers.get(key, [])
    if len(readers) != 1 or graph.is_output(key):
        return None
    reader = readers[0]
    return reader if len(reader.inputs) == 1 and graph.calls[id(reader.layer)] == 1 else None


def _followers(graph, node, candidates):
    """The channel-wise layers that join `node`'s group, and the group's output key."""
    chain, key, end = [], node.output, node.output
    while True:
        reader = _single_reader(graph, key)
        if reader is None:
            break
        layer = reader.layer
        # A depthwise convolution left out of pruning (exclude, layer_options) stays out.
        joins = (
            isinstance(layer, keras.layers.BatchNormalization)
            or (isinstance(layer, channels.DEPTHWISE) and id(layer) in candidates)
        ) and channels.follower_reason(layer) is None
        if not (joins or channels.is_elementwise(layer)):
            break
        chain.append(layer)
        key = reader.output
        if joins:
            end = key
    # Weightless layers after the last batch norm / depthwise stay outside.
    while chain and not isinstance(chain[-1], (keras.layers.BatchNormalization,) + channels.DEPTHWISE):
        chain.pop()
    return chain, end


def _is_merge(layer):
    return isinstance(layer, MERGES)


def _space(graph, start, ends, couple):
    """`(reason, members, readers)` for the channels of the group output
    `start`: the tensors joined to it by weightless channel-wise layers and
    merges share its channels; `members` are the groups that write them
    (`ends` maps a group's output key to its producer), `readers` the
    `(layer, input channels)` that would lose their input slices, and
    `reason` why the channels cannot all be removed (None when they can)."""
    members, readers, order = [], [], {id(n.layer): i for i, n in enumerate(graph.nodes)}
    pending, seen, reason = [start], set(), None
    # The whole set is walked even after a reason is found: every member
    # gets it, so none is planned again from another start.
    while pending:
        key = pending.pop()
        if key in seen:
            continue
        seen.add(key)
        found = []
        if key in ends:
            members.append(ends[key])
        else:
            found.append(_join_source(graph, key, pending))
        found.append(_follow(graph, key, pending, readers, merges=couple))
        reason = reason or next((r for r in found if r is not None), None)
    members.sort(key=lambda layer: order[id(layer)])
    return reason, members, (readers if reason is None else [])


def _join_source(graph, key, pending):
    """Walks back from a tensor of the stream that no group makes: through a
    merge or a weightless channel-wise layer to its inputs; anything else
    makes channels that cannot be removed."""
    node = graph.producer.get(key)
    if node is None:
        return "its channels are added to a model input"
    layer = node.layer
    if _is_merge(layer) or (is_pass_through(layer) and len(node.inputs) == 1):
        pending.extend(node.inputs)
        return None
    return f"its channels meet those of {layer.name!r} ({type(layer).__name__}) in a merge, and those cannot be removed"


def is_channel_concat(graph, node):
    """A `Concatenate` of channels_last tensors along their channel axis."""
    layer = node.layer
    if not isinstance(layer, keras.layers.Concatenate) or graph.calls[id(layer)] != 1:
        return False
    shapes = [graph.shape(k) for k in node.inputs]
    if any(shape is None for shape in shapes):
        return False
    return layer.axis in (-1, len(shapes[0]) - 1)


def _follow(graph, key, pending, readers, merges, concat=True):
    """Where the channels of tensor `key` go: readers that drop their input
    slices are added to `readers`, weightless channel-wise layers (and, with
    `merges`, merges) put their output on `pending`, a channel `Concatenate`
    (with `concat`) is followed to the end of its output's channels. Returns
    the first reason they cannot all be removed (every reader is still
    visited, so a walk reaches all that is joined), or None."""
    if graph.is_output(key):
        return REACHES_OUTPUT
    width = (graph.shape(key) or (None,))[-1]
    if width is None:
        return "Keras does not give the width of the tensor its channels reach"
    reasons = [
        _follow_reader(graph, reader, width, pending, readers, merges, concat)
        for reader in graph.consumers.get(key, [])
    ]
    return next((r for r in reasons if r is not None), None)


def _follow_reader(graph, reader, width, pending, readers, merges, concat):
    layer = reader.layer
    if can_drop_inputs(layer) and len(reader.inputs) == 1:
        readers.append((layer, width))
        return None
    if isinstance(layer, keras.layers.Flatten) and len(reader.inputs) == 1:
        after = graph.consumers.get(reader.output, [])
        if (
            after
            and not graph.is_output(reader.output)
            and all(isinstance(n.layer, keras.layers.Dense) and len(n.inputs) == 1 for n in after)
        ):
            readers.extend((n.layer, width) for n in after)
            return None
        return f"its channels reach {layer.name!r} (Flatten) whose output does not go only to Dense layers"
    if (merges and _is_merge(layer)) or (is_pass_through(layer) and len(reader.inputs) == 1):
        pending.append(reader.output)
        return None
    if concat and is_channel_concat(graph, reader):
        # Its channels are a slice of the concatenation's: followed on their
        # own, through layers that keep every channel where it is.
        inner, seen, reason = [reader.output], set(), None
        while inner:
            part = inner.pop()
            if part not in seen:
                seen.add(part)
                reason = reason or _follow(graph, part, inner, readers, merges=False, concat=False)
        return reason
    return f"its channels reach {layer.name!r} ({type(layer).__name__}), which cannot drop a channel by itself"
