"""The networks of the examples and the benchmarks, one builder each.

Every builder is `build(input_shape, classes, ..., keras=None)` and returns
an uncompiled model. `keras` is the Keras module to build with: Keras 3 by
default (imported when the builder runs, not here: the examples' `--help`
must not wait for it); the tfmot benchmark worker passes `tf_keras`, so the
same architecture is built there as a tf-keras (Keras 2) model.

`BUILDERS` names them for the benchmarks; `TEMPERATURES` is the T0 schedule
`(start, end)` each one is pruned with (networks with batch-norm prune with a
cooler temperature: a hot soft mask trains batch statistics that the
hard-masked network does not match).
"""

__all__ = [
    "BUILDERS",
    "TEMPERATURES",
    "lenet5",
    "lenet_300_100",
    "mobilenet_v2",
    "small_resnet",
    "text_transformer",
]


def _keras(keras):
    if keras is None:
        import keras
    return keras


def lenet_300_100(input_shape, classes, keras=None):
    """LeNet-300-100: three dense layers on the flattened image."""
    keras = _keras(keras)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Flatten(),
            L.Dense(300, activation="relu"),
            L.Dense(100, activation="relu"),
            L.Dense(classes),
        ],
        name="lenet_300_100",
    )


def lenet5(input_shape, classes, keras=None):
    """LeNet-5: two convolutions, three dense layers."""
    keras = _keras(keras)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(6, 5, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(16, 5, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(120, activation="relu"),
            L.Dense(84, activation="relu"),
            L.Dense(classes),
        ],
        name="lenet5",
    )


def small_resnet(input_shape, classes, widths=(16, 32, 64), keras=None):
    """A small ResNet with batch-norm after every convolution."""
    keras = _keras(keras)
    L = keras.layers

    def conv_bn(x, filters, strides=1, relu=True):
        x = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        return L.ReLU()(x) if relu else x

    def residual_block(x, filters, strides=1):
        shortcut = x
        y = conv_bn(x, filters, strides)
        y = conv_bn(y, filters, relu=False)
        if strides != 1 or shortcut.shape[-1] != filters:
            shortcut = L.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
            shortcut = L.BatchNormalization()(shortcut)
        return L.ReLU()(L.Add()([y, shortcut]))

    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, widths[0])
    for i, width in enumerate(widths):
        x = residual_block(x, width, strides=1 if i == 0 else 2)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(classes)(x), name="small_resnet")


def mobilenet_v2(input_shape, classes, widths=((16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (64, 2)), keras=None):
    """A MobileNetV2-style network (expand 1x1, depthwise 3x3, project 1x1,
    residual when shapes allow, ReLU6, batch-norm) at a small width.

    Not `keras.applications.MobileNetV2`: its batch-norm momentum (0.999)
    needs far more steps than the offline dataset gives before its inference
    statistics settle.
    """
    keras = _keras(keras)
    L = keras.layers

    def conv_bn(x, filters, kernel=1, strides=1, relu=True):
        x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU(6.0)(x) if relu else x

    def inverted_residual(x, filters, strides=1, expansion=4):
        inputs = x
        x = conv_bn(x, inputs.shape[-1] * expansion)
        x = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
        x = L.ReLU(6.0)(L.BatchNormalization(momentum=0.9)(x))
        x = conv_bn(x, filters, relu=False)
        if strides == 1 and inputs.shape[-1] == filters:
            x = L.Add()([inputs, x])
        return x

    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, 16, kernel=3)
    for filters, strides in widths:
        x = inverted_residual(x, filters, strides)
    x = conv_bn(x, 128)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(classes)(x), name="mobilenet_v2")


def text_transformer(input_shape, classes, vocab=2000, dim=32, heads=2, keras=None):
    """Embedding + one Transformer block (MultiHeadAttention) on int32 token ids."""
    keras = _keras(keras)
    L = keras.layers
    tokens = keras.Input(input_shape, dtype="int32")
    x = L.Embedding(vocab, dim)(tokens)
    attention = L.MultiHeadAttention(heads, dim // heads)(x, x)
    x = L.LayerNormalization()(x + attention)
    feed_forward = L.Dense(dim)(L.Dense(2 * dim, activation="relu")(x))
    x = L.LayerNormalization()(x + feed_forward)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, L.Dense(classes)(x), name="text_transformer")


def image_transformer(input_shape, classes, dim=64, heads=4, hidden=256, keras=None):
    """One Transformer block on an image's rows as tokens: a Conv1D embedding
    (3 rows, so the tokens know their neighbours), MultiHeadAttention and a
    feed-forward block, each with a residual `Add` and LayerNormalization."""
    keras = _keras(keras)
    L = keras.layers
    inputs = keras.Input(input_shape)
    x = L.Reshape((input_shape[0], -1), name="rows")(inputs)
    x = L.Conv1D(dim, 3, padding="same", name="embed")(x)
    attention = L.MultiHeadAttention(heads, dim // heads, name="attention")(x, x)
    x = L.LayerNormalization(name="norm1")(L.Add()([x, attention]))
    feed_forward = L.Dense(dim, name="ffn_out")(L.Dense(hidden, activation="relu", name="ffn_in")(x))
    x = L.LayerNormalization(name="norm2")(L.Add()([x, feed_forward]))
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, L.Dense(classes, name="head")(x), name="image_transformer")


BUILDERS = {
    "lenet_300_100": lenet_300_100,
    "lenet5": lenet5,
    "small_resnet": small_resnet,
    "mobilenet_v2": mobilenet_v2,
}
TEMPERATURES = {
    "lenet_300_100": (1.5, 0.3),
    "lenet5": (1.5, 0.3),
    "small_resnet": (0.6, 0.1),
    "mobilenet_v2": (0.6, 0.1),
}
