"""Prune a MobileNetV2-style network (inverted residuals, depthwise convolutions,
batch-norm) with LTP.

Compact networks are where hand-set magnitude schedules struggle: the
depthwise kernels are tiny and sensitive, and tfmot does not prune them at
all. LTP learns their thresholds like any other. The network follows
MobileNetV2 (expand 1x1, depthwise 3x3, project 1x1, residual when shapes
allow, ReLU6) at a small width for 28x28 inputs. `keras.applications.MobileNetV2`
is not used: its batch-norm momentum (0.999) needs far more steps than this
offline dataset gives before its inference statistics settle.

    python examples/mobilenet_v2.py
    python examples/mobilenet_v2.py --tfds cifar10
"""

from common import launch, options

# Keras is imported inside the functions, not at the top: --help must not wait for it.


def conv_bn(x, filters, kernel=1, strides=1, relu=True):
    from keras import layers as L

    x = L.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    return L.ReLU(6.0)(x) if relu else x


def inverted_residual(x, filters, strides=1, expansion=4):
    from keras import layers as L

    inputs = x
    x = conv_bn(x, inputs.shape[-1] * expansion)
    x = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = L.ReLU(6.0)(L.BatchNormalization(momentum=0.9)(x))
    x = conv_bn(x, filters, relu=False)
    if strides == 1 and inputs.shape[-1] == filters:
        x = L.Add()([inputs, x])
    return x


def mobilenet_v2(input_shape, classes, widths=((16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (64, 2))):
    import keras

    L = keras.layers
    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, 16, kernel=3)
    for filters, strides in widths:
        x = inverted_residual(x, filters, strides)
    x = conv_bn(x, 128)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(classes)(x), name="mobilenet_v2")


def main(argv=None):
    # Batch-norm everywhere: a cool temperature, as for the ResNet example.
    args = options.parser(__doc__, out="runs/mobilenet_v2", dense_epochs=12, t_start=0.6, t_end=0.1).parse_args(argv)
    return launch.run(mobilenet_v2, args)


if __name__ == "__main__":
    main()
