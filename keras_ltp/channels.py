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
"""

import keras
import numpy as np

from keras_ltp.coupled import CoupledChannels

__all__ = [
    "Layout",
    "channel_layout",
    "follower_reason",
    "channel_width",
    "is_attention",
    "is_elementwise",
    "is_producer",
    "keeps_zero",
    "output_kernel",
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
)
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

    Attributes:
        scores: `(variable, axis)` pairs whose weights give the channel
            saliency (the producer's kernel).
        masked: `(variable, axis)` pairs the channel mask multiplies: the
            scores, biases, batch-norm `gamma`/`beta`, depthwise kernels.
        channels: the number of channels `C`.
    """

    def __init__(self, scores, masked):
        self.scores, self.masked = list(scores), list(masked)
        sizes = {v.shape[axis] for v, axis in self.masked}
        if len(sizes) != 1:
            raise ValueError(f"channel axes disagree in size: {sorted(sizes)}")
        self.channels = sizes.pop()


def is_producer(layer):
    return isinstance(layer, PRODUCERS)


def is_attention(layer):
    """A layer pruned by attention head (its output width stays)."""
    return isinstance(layer, ATTENTION)


def channel_width(layer):
    """The number of channels of a channel-prunable layer: output channels,
    or attention heads."""
    if is_attention(layer):
        return layer.num_heads
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
            f"pruning supports (Dense, Conv, ConvTranspose, SeparableConv, MultiHeadAttention)"
        )
    if getattr(head, "groups", 1) != 1:
        return f"{head.name!r} is a grouped convolution (groups={head.groups})"
    if not keeps_zero(getattr(head, "activation", None)):
        return f"{head.name!r} has an activation that does not map 0 to 0, so a pruned channel would not be zero"
    for follower in chain[1:]:
        reason = follower_reason(follower)
        if reason:
            return reason
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
    channels, and the axis that indexes them."""
    if isinstance(producer, SEPARABLE):
        return producer.pointwise_kernel, -1
    if isinstance(producer, TRANSPOSED):
        return producer.kernel, -2
    return producer.kernel, -1


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
    scores, masked = [], []
    kernel = output_kernel(head)
    scores.append(kernel)
    masked.append(kernel)
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
