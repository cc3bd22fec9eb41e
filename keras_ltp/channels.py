"""Where each layer keeps its channels: the one table channel pruning and
`shrink()` read.

A *producer* creates output channels from all its input channels (Dense,
Conv, ConvTranspose, SeparableConv); a *channel-wise* layer maps channel `c`
to channel `c` (BatchNormalization, DepthwiseConv with `depth_multiplier=1`,
elementwise activations, dropout, pooling, padding). A channel group is a
producer followed by channel-wise layers: one mask zeroes channel `c` in
every parameter of the group (kernel slice, bias, batch-norm scale and
shift), so the group's output channel is exactly zero and removing it
changes nothing. A MultiHeadAttention's channels are its heads (query, key,
value and output projections of a head: a zero head adds nothing).

A recurrent layer (LSTM, GRU, SimpleRNN) is a producer whose channels are
its units. Its kernels pack one block of `units` columns per gate (LSTM 4,
GRU 3), so unit `c` is column `c` of every block: a Layout entry says how
many blocks an axis holds (`tiles`). A unit whose columns (kernel, recurrent
kernel, bias) are all zero has a zero candidate and a zero state update, so
starting from the zero state its output stays exactly zero (the activation
must map 0 to 0); its row of the recurrent kernel then reads only zeros and
is masked too.

A `Bidirectional` of one of them has the units of both directions as its
channels: unit `c` of the forward and of the backward layer share one mask,
because Keras derives a `Bidirectional`'s width from its forward layer, so
both directions keep the same number of units. With `merge_mode="concat"`
unit `c` is output channels `c` and `units + c` (`output_tiles`: 2).
"""

import math

import keras
import numpy as np

from keras_ltp.coupled import CoupledChannels

__all__ = [
    "Layout",
    "channel_layout",
    "follower_reason",
    "channel_width",
    "gate_blocks",
    "has_units",
    "input_kernels",
    "is_attention",
    "is_elementwise",
    "is_producer",
    "is_recurrent",
    "keeps_zero",
    "output_kernel",
    "output_tiles",
    "producers",
    "recurrent_directions",
    "recurrent_kernels",
    "weights_per_channel",
]

PRODUCERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.LSTM,
    keras.layers.GRU,
    keras.layers.SimpleRNN,
)
RECURRENT = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)
TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
# Layers whose channels are internal: pruning one (an attention head) leaves
# the layer's output width as it is, so nothing outside the layer changes.
ATTENTION = (keras.layers.MultiHeadAttention,)
# Layers without weights that map channel c to channel c and keep a zero
# channel zero (activations are checked on zeros, see `keeps_zero`).
ELEMENTWISE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
)
_MIXING_ACTIVATIONS = ("softmax", "log_softmax")


class Layout:
    """The variables of a layer (or of a chain of layers) that hold channels.

    Args:
        scores: `(variable, axis)` or `(variable, axis, tiles)` entries whose
            weights give the channel saliency (the producer's kernel).
            `axis` holds `tiles` blocks of `C` channels one after the other
            (a recurrent kernel's gates); 1 when omitted.
        masked: entries the channel mask multiplies: the scores, biases,
            batch-norm `gamma`/`beta`, depthwise kernels. A variable may
            appear on several axes (a recurrent kernel: its columns and rows).

    Attributes:
        scores, masked: the entries as `(variable, axis, tiles)`.
        channels: the number of channels `C`.
    """

    def __init__(self, scores, masked):
        self.scores, self.masked = _entries(scores), _entries(masked)
        sizes = {v.shape[axis] / tiles for v, axis, tiles in self.masked}
        if len(sizes) != 1 or not float(next(iter(sizes))).is_integer():
            raise ValueError(f"channel axes disagree in size: {sorted(sizes)}")
        self.channels = int(sizes.pop())


def _entries(pairs):
    return [(entry[0], entry[1], entry[2] if len(entry) > 2 else 1) for entry in pairs]


def is_producer(layer):
    return isinstance(layer, PRODUCERS) or has_units(layer)


def producers(layer):
    """The producers whose output channels a channel-pruned `layer` masks:
    `[layer]`, the head of a `keras.Sequential` chain, or one per member of
    a `CoupledChannels`.

    Example:
    >>> import keras
    >>> conv = keras.layers.Conv2D(4, 3)
    >>> chain = keras.Sequential([conv, keras.layers.BatchNormalization()])
    >>> producers(chain) == [conv]
    True
    """
    groups = layer.members if isinstance(layer, CoupledChannels) else [layer]
    return [g.layers[0] if isinstance(g, keras.Sequential) and g.layers else g for g in groups]


def is_recurrent(layer):
    """An LSTM, GRU or SimpleRNN layer (channels: its units)."""
    return isinstance(layer, RECURRENT)


def recurrent_directions(layer):
    """The recurrent layers whose units are `layer`'s channels: `[layer]`
    for an LSTM/GRU/SimpleRNN, the forward and backward layers of a
    `Bidirectional` of one, else `[]`."""
    if is_recurrent(layer):
        return [layer]
    if isinstance(layer, keras.layers.Bidirectional):
        directions = [layer.forward_layer, layer.backward_layer]
        if all(is_recurrent(d) for d in directions):
            return directions
    return []


def has_units(layer):
    """A layer whose channels are recurrent units (`recurrent_directions`)."""
    return bool(recurrent_directions(layer))


def output_tiles(layer):
    """How many blocks of channels `layer`'s output holds one after the
    other: 2 for a `Bidirectional` that concatenates its directions, else 1."""
    return 2 if isinstance(layer, keras.layers.Bidirectional) and layer.merge_mode == "concat" else 1


def is_attention(layer):
    """A layer pruned by attention head (its output width stays)."""
    return isinstance(layer, ATTENTION)


def channel_width(layer):
    """The number of channels of a channel-prunable layer: output channels,
    or attention heads."""
    if is_attention(layer):
        return layer.num_heads
    if has_units(layer):
        return recurrent_directions(layer)[0].units
    variable, axis = output_kernel(layer)
    return variable.shape[axis]


def is_elementwise(layer):
    """A weightless layer that maps channel `c` to `c` and keeps zeros zero."""
    if not isinstance(layer, ELEMENTWISE):
        return False
    return not isinstance(layer, keras.layers.Activation) or keeps_zero(layer.activation)


def keeps_zero(activation):
    """True when `activation(0) == 0` and it acts elementwise (so a zeroed
    channel stays zero after it)."""
    if activation is None:
        return True
    name = getattr(activation, "__name__", "")
    if name in _MIXING_ACTIVATIONS:
        return False
    try:
        value = keras.ops.convert_to_numpy(activation(keras.ops.zeros((1, 2))))
    except Exception:  # noqa: BLE001 - an activation we cannot evaluate is not trusted
        return False
    return bool(np.all(value == 0))


def channel_layout(layer):
    """The `Layout` of a producer, or of a `keras.Sequential` chain that
    starts with one, or None where channel pruning does not apply.

    Args:
        layer: a built layer.

    Returns:
        A `Layout`, or None; `unsupported_reason(layer)` says why not.
    """
    return None if unsupported_reason(layer) else _layout(layer)


def unsupported_reason(layer):
    """Why `layer` cannot be channel-pruned, or None when it can."""
    if is_attention(layer):
        return None if layer.built else f"{layer.name!r} is not built yet"
    if isinstance(layer, CoupledChannels):
        for member in layer.members:
            reason = unsupported_reason(member)
            if reason:
                return reason
        widths = sorted({_layout(member).channels for member in layer.members})
        if len(widths) > 1:
            return f"{layer.name!r} couples members with different numbers of channels {widths}"
        return None
    chain = list(layer.layers) if isinstance(layer, keras.Sequential) else [layer]
    head = chain[0] if chain else None
    if not is_producer(head):
        return (
            f"{type(layer).__name__} is not a layer with output channels that channel "
            f"pruning supports (Dense, Conv, ConvTranspose, SeparableConv, LSTM, GRU, SimpleRNN, "
            f"a Bidirectional of one of those, MultiHeadAttention)"
        )
    if has_units(head):
        reason = _recurrent_reason(head)
        if reason:
            return reason
    if getattr(head, "groups", 1) != 1:
        return f"{head.name!r} is a grouped convolution (groups={head.groups})"
    if not keeps_zero(getattr(head, "activation", None)):
        return f"{head.name!r} has an activation that does not map 0 to 0, so a pruned channel would not be zero"
    for follower in chain[1:]:
        reason = follower_reason(follower)
        if reason:
            return reason
    return None


def _recurrent_reason(layer):
    if layer.return_state:
        return f"{layer.name!r} returns its states (return_state=True), which channel pruning does not follow"
    directions = recurrent_directions(layer)
    if len(directions) > 1:
        if layer.merge_mode is None:
            return f"{layer.name!r} returns its two directions apart (merge_mode=None)"
        if directions[0].units != directions[1].units:
            return f"{layer.name!r} has directions of {directions[0].units} and {directions[1].units} units"
    for direction in directions:
        if not keeps_zero(direction.activation):
            return f"{direction.name!r} has an activation that does not map 0 to 0, so a pruned unit would not be zero"
    return None


def follower_reason(layer):
    """Why `layer` cannot follow a producer in a channel group, or None."""
    if isinstance(layer, keras.layers.BatchNormalization):
        if layer.axis not in (-1, len(layer.input.shape) - 1 if _has_input(layer) else -1):
            return f"{layer.name!r} normalizes axis {layer.axis}, not the channel axis"
        if not layer.scale:
            return f"{layer.name!r} has scale=False, so a pruned channel's shift cannot be zeroed"
        return None
    if isinstance(layer, DEPTHWISE):
        if layer.depth_multiplier != 1:
            return f"{layer.name!r} has depth_multiplier={layer.depth_multiplier}"
        if not keeps_zero(layer.activation):
            return f"{layer.name!r} has an activation that does not map 0 to 0"
        return None
    if is_elementwise(layer):
        return None
    return f"{layer.name!r} ({type(layer).__name__}) is not channel-wise"


def _has_input(layer):
    try:
        return layer.input is not None
    except (AttributeError, ValueError):
        return False


def output_kernel(producer):
    """`(variable, axis)`: the kernel of a producer that makes its output
    channels from its input channels, and the axis that indexes the output
    channels (a recurrent layer's: its input kernel, all gates on that axis;
    a `Bidirectional`'s: its forward layer's, see `input_kernels`)."""
    if has_units(producer):
        return recurrent_directions(producer)[0].cell.kernel, -1
    if isinstance(producer, SEPARABLE):
        return producer.pointwise_kernel, -1
    if isinstance(producer, TRANSPOSED):
        return producer.kernel, -2
    return producer.kernel, -1


def weights_per_channel(producer):
    """How many of a producer's own prunable weights one output channel
    holds: its output-kernel slice, and for a recurrent layer also the
    recurrent kernel's columns of the unit (its row, read from the unit's
    own output, is not counted: a linear count that errs on the side of
    keeping); both directions' for a `Bidirectional`."""
    kernels = input_kernels(producer) + recurrent_kernels(producer)
    return sum(math.prod(kernel.shape) for kernel in kernels) / channel_width(producer)


def input_kernels(layer):
    """The kernels that read a producer's input channels: its output kernel,
    or each direction's input kernel of a `Bidirectional`."""
    if has_units(layer):
        return [direction.cell.kernel for direction in recurrent_directions(layer)]
    return [output_kernel(layer)[0]]


def recurrent_kernels(layer):
    """The recurrent kernels of a layer with units (each reads its own
    units, not the layer's inputs); `[]` for other layers."""
    return [direction.cell.recurrent_kernel for direction in recurrent_directions(layer)]


def gate_blocks(layer):
    """How many blocks of `units` columns a recurrent layer's kernels hold
    (LSTM 4, GRU 3, SimpleRNN 1)."""
    return layer.cell.kernel.shape[-1] // layer.cell.units


def _recurrent_entries(layer):
    """`(scores, masked)` of the units of an LSTM/GRU/SimpleRNN (of both
    directions of a `Bidirectional`): the columns of each gate block of the
    kernel, recurrent kernel and bias, and the unit's row of the recurrent
    kernel."""
    scores, masked = [], []
    for direction in recurrent_directions(layer):
        cell = direction.cell
        gates = gate_blocks(direction)
        own = [(cell.kernel, -1, gates), (cell.recurrent_kernel, -1, gates)]
        scores += own
        masked += own + [(cell.recurrent_kernel, 0, 1)]
        if cell.use_bias:
            masked.append((cell.bias, -1, gates))  # GRU with reset_after: (2, 3 * units)
    return scores, masked


def _attention_layout(layer):
    """Heads of a MultiHeadAttention: axis -2 of the query/key/value kernels
    `(dim, heads, head_dim)` and biases `(heads, head_dim)`, axis 0 of the
    output kernel `(heads, head_dim, dim)`. A head with all of them zero
    adds exactly zero to the output."""
    scores, masked = [], []
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense):
        scores.append((dense.kernel, -2))
        masked.append((dense.kernel, -2))
        if getattr(dense, "bias", None) is not None:
            masked.append((dense.bias, -2))
    gate = getattr(layer, "_gate_dense", None)  # use_gate=True: a sigmoid gate per head, (dim, heads, head_dim)
    if gate is not None:
        masked.append((gate.kernel, -2))
        if getattr(gate, "bias", None) is not None:
            masked.append((gate.bias, -2))
    scores.append((layer.output_dense.kernel, 0))
    masked.append((layer.output_dense.kernel, 0))
    return Layout(scores, masked)


def _layout(layer):
    if is_attention(layer):
        return _attention_layout(layer)
    if isinstance(layer, CoupledChannels):
        layouts = [_layout(member) for member in layer.members]
        return Layout([p for lay in layouts for p in lay.scores], [p for lay in layouts for p in lay.masked])
    chain = list(layer.layers) if isinstance(layer, keras.Sequential) else [layer]
    head = chain[0]
    if has_units(head):
        scores, masked = _recurrent_entries(head)
    else:
        kernel = output_kernel(head)
        scores, masked = [kernel], [kernel]
        if head.use_bias:
            masked.append((head.bias, 0))
    for follower in chain[1:]:
        if isinstance(follower, keras.layers.BatchNormalization):
            masked.append((follower.gamma, 0))
            if follower.center:
                masked.append((follower.beta, 0))
        elif isinstance(follower, DEPTHWISE):
            masked.append((follower.kernel, -2))
            if follower.use_bias:
                masked.append((follower.bias, 0))
    return Layout(scores, masked)
