"""Which layers of a graph model `prune(..., granularity="channel")` prunes
by channel, and with which followers.

A producer (Dense, Conv, ...) is channel-pruned when every channel it makes
can later be removed: the channel-wise layers right after it (batch norm,
activations, depthwise convolutions, each the only reader of the one before)
join its group so that one mask zeroes the channel through all of them, and
beyond the group the channel only reaches layers that can drop an input
channel (the next producer, or Flatten then Dense), through weightless
channel-wise layers (activations, pooling, padding, dropout). Anything else
on the way (a model output, `Add`, `Concatenate`, a reshape, a nested model)
keeps the producer's width: it is pruned per weight, and the reason is kept.
"""

import keras

from keras_ltp import channels
from keras_ltp.graph import Graph

__all__ = ["plan_channel_groups", "PASS_THROUGH", "REACHES_OUTPUT"]

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


def channels_last(layer):
    return getattr(layer, "data_format", "channels_last") in ("channels_last", None)


def is_pass_through(layer):
    if not isinstance(layer, PASS_THROUGH) or not channels_last(layer):
        return False
    return not isinstance(layer, channels.ELEMENTWISE) or channels.is_elementwise(layer)


def can_drop_inputs(layer):
    """A layer whose input channels can be removed by slicing its kernel."""
    return channels.is_producer(layer) and getattr(layer, "groups", 1) == 1 and channels_last(layer)


def plan_channel_groups(model, candidates):
    """Plans the channel groups of one graph model (not its nested models).

    Args:
        model: a Sequential or Functional model.
        candidates: ids of the layers `prune()` will wrap.

    Returns:
        `(groups, reasons, readers)`: `groups` maps `id(producer)` to its
        list of follower layers (possibly empty); `reasons` maps `id(layer)`
        to why a candidate is pruned per weight instead; `readers` maps
        `id(producer)` to the layers that read the group's channels and lose
        their input slices with them (the next producers, or the Dense
        layers after a Flatten).
    """
    graph = Graph(model)
    groups, reasons, readers = {}, {}, {}
    for node in graph.nodes:
        layer = node.layer
        if id(layer) not in candidates:
            continue
        reason = _reason(graph, node)
        if reason is None:
            followers, end = _followers(graph, node)
            reason, found = _reach(graph, end)
            if reason is None:
                groups[id(layer)] = followers
                readers[id(layer)] = found
                continue
        reasons[id(layer)] = reason
    return groups, reasons, readers


def _reason(graph, node):
    layer = node.layer
    if graph.calls[id(layer)] != 1:
        return "it is called more than once"
    if not channels_last(layer):
        return "it is not channels_last"
    return channels.unsupported_reason(layer)


def _single_reader(graph, key):
    readers = graph.consumers.get(key, [])
    if len(readers) != 1 or graph.is_output(key):
        return None
    reader = readers[0]
    return reader if len(reader.inputs) == 1 and graph.calls[id(reader.layer)] == 1 else None


def _followers(graph, node):
    """The channel-wise layers that join `node`'s group, and the group's output key."""
    chain, key, end = [], node.output, node.output
    while True:
        reader = _single_reader(graph, key)
        if reader is None:
            break
        layer = reader.layer
        joins = (
            isinstance(layer, keras.layers.BatchNormalization) or isinstance(layer, channels.DEPTHWISE)
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


def _reach(graph, key):
    """`(reason, readers)`: why the channels of tensor `key` cannot all be
    removed (None when they can), and the layers that would lose their
    input slices."""
    pending, seen, readers = [key], set(), []
    while pending:
        key = pending.pop()
        if key in seen:
            continue
        seen.add(key)
        if graph.is_output(key):
            return REACHES_OUTPUT, []
        for reader in graph.consumers.get(key, []):
            layer = reader.layer
            if can_drop_inputs(layer) and len(reader.inputs) == 1:
                readers.append(layer)
                continue
            if isinstance(layer, keras.layers.Flatten) and len(reader.inputs) == 1:
                after = graph.consumers.get(reader.output, [])
                if (
                    after
                    and not graph.is_output(reader.output)
                    and all(isinstance(n.layer, keras.layers.Dense) and len(n.inputs) == 1 for n in after)
                ):
                    readers.extend(n.layer for n in after)
                    continue
                return f"its channels reach {layer.name!r} (Flatten) whose output does not go only to Dense layers", []
            if is_pass_through(layer) and len(reader.inputs) == 1:
                pending.append(reader.output)
                continue
            return (
                f"its channels reach {layer.name!r} ({type(layer).__name__}), which cannot drop a channel by itself",
                [],
            )
    return None, readers
